//! `medmetric-worker`: the confined process in which validators run
//! untrusted models. It links only the evaluation crate and the runtimes,
//! speaks the pipe protocol of `medmetric_eval::sandbox::protocol` on
//! stdin/stdout, and is started by `medmetric` itself — never by hand.

fn main() -> std::process::ExitCode {
    if std::env::args_os().len() > 1 {
        eprintln!(
            "medmetric-worker takes no arguments: validators start it to run untrusted models \
             in a sandbox, speaking a binary protocol on stdin/stdout"
        );
        return std::process::ExitCode::from(2);
    }
    medmetric_eval::sandbox::worker::main()
}

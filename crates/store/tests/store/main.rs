//! Integration tests of `medmetric-store`: CIDs against a real Kubo, the
//! local store, the IPFS clients against in-test servers, and hostile
//! commitments.

mod cids;
mod commitments;
mod ipfs;
mod local;
mod servers;

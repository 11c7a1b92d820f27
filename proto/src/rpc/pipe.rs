//! DCE/RPC over a message-mode named pipe (`ncacn_np`), sans-IO: what a
//! client writes is cut into whole fragments for the association, and
//! what the association answers is kept as one pipe message per fragment
//! until the client reads it (a read shorter than the message takes the
//! rest on the next read, as BUFFER_OVERFLOW tells the client).

use std::collections::VecDeque;

use super::pdu;
use super::RpcError;

/// The most written but not yet whole: one fragment's worth.
const MAX_PENDING: usize = 2 * super::assoc::MAX_FRAG as usize;

/// One end of a pipe, server side.
#[derive(Default)]
pub struct PipeEnd {
    written: Vec<u8>,
    messages: VecDeque<Vec<u8>>,
}

/// A read's data, and whether the message goes on.
#[derive(Debug, PartialEq, Eq)]
pub struct Read {
    pub data: Vec<u8>,
    pub more: bool,
}

impl PipeEnd {
    /// Takes what the client wrote; the whole fragments it completes.
    pub fn write(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, RpcError> {
        self.written.extend(data);
        let mut out = Vec::new();
        while let Some(n) = pdu::fragment_len(&self.written)? {
            if n < pdu::HEADER_LEN {
                return Err(RpcError::Malformed(
                    "a fragment length shorter than its header",
                ));
            }
            if self.written.len() < n {
                break;
            }
            out.push(self.written.drain(..n).collect());
        }
        if self.written.len() > MAX_PENDING {
            return Err(RpcError::Malformed(
                "a fragment longer than the association takes",
            ));
        }
        Ok(out)
    }

    /// Queues the association's answer, one message per fragment.
    pub fn queue(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = match pdu::fragment_len(bytes) {
                Ok(Some(n)) if n >= pdu::HEADER_LEN && n <= bytes.len() => n,
                _ => bytes.len(),
            };
            self.messages.push_back(bytes[..n].to_vec());
            bytes = &bytes[n..];
        }
    }

    /// Up to `max` bytes of the next message; `None` when there is none.
    pub fn read(&mut self, max: usize) -> Option<Read> {
        let mut m = self.messages.pop_front()?;
        if m.len() <= max {
            return Some(Read {
                data: m,
                more: false,
            });
        }
        let rest = m.split_off(max);
        self.messages.push_front(rest);
        Some(Read {
            data: m,
            more: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::pdu::{encode, pfc, ptype, Body};

    fn fault(call_id: u32) -> Vec<u8> {
        let body = Body::Fault {
            context_id: 0,
            status: 5,
        };
        encode(
            ptype::FAULT,
            pfc::FIRST_FRAG | pfc::LAST_FRAG,
            call_id,
            &body,
            None,
        )
    }

    #[test]
    fn writes_are_cut_into_whole_fragments() {
        let (a, b) = (fault(1), fault(2));
        let mut both = a.clone();
        both.extend(&b);
        let mut end = PipeEnd::default();
        assert_eq!(end.write(&both[..a.len() + 3]).unwrap(), vec![a.clone()]);
        assert_eq!(end.write(&both[a.len() + 3..]).unwrap(), vec![b]);
        assert!(end.write(&[0xff; 16]).is_err(), "not a fragment header");
    }

    #[test]
    fn each_fragment_is_a_message_read_in_pieces() {
        let (a, b) = (fault(1), fault(2));
        let mut both = a.clone();
        both.extend(&b);
        let mut end = PipeEnd::default();
        end.queue(&both);
        let first = end.read(10).unwrap();
        assert_eq!((first.data.as_slice(), first.more), (&a[..10], true));
        let rest = end.read(1024).unwrap();
        assert_eq!((rest.data.as_slice(), rest.more), (&a[10..], false));
        assert_eq!(end.read(1024).unwrap().data, b);
        assert_eq!(end.read(1024), None);
    }
}

//! The endpoint mapper's `ept_map` (opnum 3, C706 appendix L / MS-RPCE
//! 2.2.1.2.5) and the protocol towers it maps: a client asks for the
//! interface's tower over `ncacn_ip_tcp` with port 0, the mapper answers
//! with the port the interface listens on.

use super::ndr::{Reader, Writer};
use super::{RpcError, SyntaxId};

/// The opnum of `ept_map`.
pub const EPT_MAP: u16 = 3;

/// `ept_map`'s status when nothing matches (`EPT_S_NOT_REGISTERED`).
pub const EPT_S_NOT_REGISTERED: u32 = 0x16c9_a0d6;

/// Floor protocol identifiers (C706 appendix I).
pub mod floor {
    pub const UUID: u8 = 0x0d;
    pub const RPC_CO: u8 = 0x0b;
    pub const TCP: u8 = 0x07;
    pub const IP: u8 = 0x09;
    pub const NAMED_PIPE: u8 = 0x0f;
    pub const HTTP: u8 = 0x1f;
}

/// One floor: its left-hand side (protocol identifier and data) and its
/// right-hand side (address data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Floor {
    pub lhs: Vec<u8>,
    pub rhs: Vec<u8>,
}

/// A protocol tower: interface, transfer syntax, RPC protocol, transport
/// and host floors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tower {
    pub floors: Vec<Floor>,
}

fn uuid_floor(s: &SyntaxId) -> Floor {
    let mut lhs = vec![floor::UUID];
    lhs.extend(s.uuid);
    lhs.extend((s.version as u16).to_le_bytes());
    Floor {
        lhs,
        rhs: ((s.version >> 16) as u16).to_le_bytes().to_vec(),
    }
}

fn syntax_of(f: &Floor) -> Option<SyntaxId> {
    if f.lhs.len() != 19 || f.lhs[0] != floor::UUID || f.rhs.len() != 2 {
        return None;
    }
    Some(SyntaxId {
        uuid: f.lhs[1..17].try_into().ok()?,
        version: u32::from(u16::from_le_bytes([f.lhs[17], f.lhs[18]]))
            | u32::from(u16::from_le_bytes([f.rhs[0], f.rhs[1]])) << 16,
    })
}

impl Tower {
    /// The tower of an interface over `ncacn_ip_tcp` at `port` on `ip`.
    pub fn tcp(interface: &SyntaxId, transfer: &SyntaxId, port: u16, ip: [u8; 4]) -> Tower {
        Tower {
            floors: vec![
                uuid_floor(interface),
                uuid_floor(transfer),
                Floor {
                    lhs: vec![floor::RPC_CO],
                    rhs: vec![0, 0],
                },
                Floor {
                    lhs: vec![floor::TCP],
                    rhs: port.to_be_bytes().to_vec(),
                },
                Floor {
                    lhs: vec![floor::IP],
                    rhs: ip.to_vec(),
                },
            ],
        }
    }

    pub fn parse(b: &[u8]) -> Result<Tower, RpcError> {
        let mut r = Reader::new(b);
        let n = r.bytes(2, "tower floor count")?;
        let n = u16::from_le_bytes([n[0], n[1]]);
        let mut floors = Vec::new();
        for _ in 0..n {
            let mut side = |what| -> Result<Vec<u8>, RpcError> {
                let len = r.bytes(2, what)?;
                let len = u16::from_le_bytes([len[0], len[1]]) as usize;
                Ok(r.bytes(len, what)?.to_vec())
            };
            let lhs = side("tower floor")?;
            let rhs = side("tower floor")?;
            if lhs.is_empty() {
                return Err(RpcError::Malformed("tower floor"));
            }
            floors.push(Floor { lhs, rhs });
        }
        Ok(Tower { floors })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = (self.floors.len() as u16).to_le_bytes().to_vec();
        for f in &self.floors {
            out.extend((f.lhs.len() as u16).to_le_bytes());
            out.extend(&f.lhs);
            out.extend((f.rhs.len() as u16).to_le_bytes());
            out.extend(&f.rhs);
        }
        out
    }

    /// The interface this tower names (floor 1).
    pub fn interface(&self) -> Option<SyntaxId> {
        self.floors.first().and_then(syntax_of)
    }

    /// The transfer syntax it asks for (floor 2).
    pub fn transfer_syntax(&self) -> Option<SyntaxId> {
        self.floors.get(1).and_then(syntax_of)
    }

    /// The transport's protocol identifier (floor 4: TCP, named pipe, HTTP).
    pub fn transport(&self) -> Option<u8> {
        self.floors.get(3).map(|f| f.lhs[0])
    }

    /// The TCP port a `ncacn_ip_tcp` tower carries.
    pub fn tcp_port(&self) -> Option<u16> {
        let f = self.floors.get(3)?;
        (f.lhs[0] == floor::TCP && f.rhs.len() == 2)
            .then(|| u16::from_be_bytes([f.rhs[0], f.rhs[1]]))
    }
}

/// `ept_map`'s `[in]` parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EptMap {
    pub object: Option<[u8; 16]>,
    /// The tower asked about (its bytes), if the pointer is not NULL.
    pub tower: Option<Vec<u8>>,
    /// The lookup context handle (zero on a first call).
    pub handle: [u8; 20],
    pub max_towers: u32,
}

/// `ept_map`'s `[out]` parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EptMapResponse {
    pub handle: [u8; 20],
    /// The towers found (their bytes), at most the request's `max_towers`.
    pub towers: Vec<Vec<u8>>,
    /// The array's maximum count: the request's `max_towers`.
    pub max_towers: u32,
    /// 0 or `EPT_S_NOT_REGISTERED`.
    pub status: u32,
}

/// A `twr_t` pointee: a conformant struct, so its maximum count comes
/// first, then `tower_length` and the octets.
fn read_tower(r: &mut Reader<'_>) -> Result<Vec<u8>, RpcError> {
    let max = r.u32("twr_t")? as usize;
    let len = r.u32("twr_t")? as usize;
    if len > max {
        return Err(RpcError::Malformed("twr_t"));
    }
    let b = r.bytes(max, "twr_t")?;
    Ok(b[..len].to_vec())
}

fn write_tower(w: &mut Writer, tower: &[u8]) {
    w.u32(tower.len() as u32);
    w.u32(tower.len() as u32);
    w.bytes(tower);
}

impl EptMap {
    pub fn parse(stub: &[u8]) -> Result<EptMap, RpcError> {
        let mut r = Reader::new(stub);
        let object = if r.pointer("obj")? {
            Some(r.bytes(16, "obj")?.try_into().expect("16 bytes"))
        } else {
            None
        };
        let tower = if r.pointer("map_tower")? {
            Some(read_tower(&mut r)?)
        } else {
            None
        };
        r.align(4)?;
        let handle = r.bytes(20, "entry_handle")?.try_into().expect("20 bytes");
        let max_towers = r.u32("max_towers")?;
        Ok(EptMap {
            object,
            tower,
            handle,
            max_towers,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.pointer(self.object.is_some());
        if let Some(o) = &self.object {
            w.bytes(o);
        }
        w.pointer(self.tower.is_some());
        if let Some(t) = &self.tower {
            write_tower(&mut w, t);
        }
        w.align(4);
        w.bytes(&self.handle);
        w.u32(self.max_towers);
        w.finish()
    }
}

impl EptMapResponse {
    pub fn parse(stub: &[u8]) -> Result<EptMapResponse, RpcError> {
        let mut r = Reader::new(stub);
        let handle = r.bytes(20, "entry_handle")?.try_into().expect("20 bytes");
        let num = r.u32("num_towers")?;
        let max_towers = r.u32("towers")?;
        let offset = r.u32("towers")?;
        let actual = r.u32("towers")?;
        if offset != 0
            || actual > max_towers
            || actual != num
            || r.remaining() < 4 * actual as usize
        {
            return Err(RpcError::Malformed("towers"));
        }
        let present = (0..actual)
            .map(|_| r.pointer("towers"))
            .collect::<Result<Vec<bool>, _>>()?;
        let mut towers = Vec::new();
        for p in present {
            if p {
                towers.push(read_tower(&mut r)?);
            }
        }
        let status = r.u32("status")?;
        Ok(EptMapResponse {
            handle,
            towers,
            max_towers,
            status,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(&self.handle);
        w.u32(self.towers.len() as u32);
        w.u32(self.max_towers.max(self.towers.len() as u32));
        w.u32(0);
        w.u32(self.towers.len() as u32);
        for _ in &self.towers {
            w.pointer(true);
        }
        for t in &self.towers {
            write_tower(&mut w, t);
        }
        w.u32(self.status);
        w.finish()
    }
}

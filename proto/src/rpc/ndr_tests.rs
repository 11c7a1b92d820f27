//! The ICPR and endpoint-mapper stubs fed bytes impacket 0.13.1 and
//! Certipy 4.8.2's NDR classes write (`ept_map` as `epm.hept_map` sends
//! it; `CertServerRequest` as `certipy req` and `-retrieve` send it).

use super::epm::{EptMap, EptMapResponse, Tower};
use super::icpr::{CertServerRequest, CertServerResponse};
use super::{ICERT_PASSAGE, NDR};

fn unhex(s: &str) -> Vec<u8> {
    crate::hex::unhex(s).expect("hex")
}

const EPT_MAP_REQUEST: &str = "0100000000000000000000000000000000000000020000004b0000004b000000050013000d2060ae913c9ecf118d7c00aa00c091be00000200000013000d045d888aeb1cc9119fe808002b10486002000200000001000b0200000001000702000000010009040000000000ab000000000000000000000000000000000000000004000000";
const EPT_MAP_RESPONSE: &str = "000000000000000000000000000000000000000001000000010000000000000001000000643d00004b0000004b000000050013000d2060ae913c9ecf118d7c00aa00c091be00000200000013000d045d888aeb1cc9119fe808002b10486002000200000001000b020000000100070200c20301000904007f000001bf00000000";
const CSR_REQUEST: &str = "000000008b97000010000000000000001000000063006f006e0074006f0073006f002d0054004500530054002d004300410000000000000068000000923100006800000043006500720074006900660069006300610074006500540065006d0070006c006100740065003a0055007300650072000a00530041004e003a00750070006e003d0061006c00690063006500400063006f006e0074006f0073006f002e00740065007300740000000a000000b3a400000a0000000102030405060708090a";
const RETRIEVE_REQUEST: &str = "000000007c14000010000000000000001000000063006f006e0074006f0073006f002d0054004500530054002d004300410000000700000000000000000000000000000000000000";

#[test]
fn hept_maps_request_asks_for_icert_passage_over_tcp() {
    let m = EptMap::parse(&unhex(EPT_MAP_REQUEST)).unwrap();
    assert_eq!(
        (m.object, m.handle, m.max_towers),
        (Some([0; 16]), [0; 20], 4)
    );
    let tower = Tower::parse(m.tower.as_deref().unwrap()).unwrap();
    assert_eq!(tower.interface(), Some(ICERT_PASSAGE));
    assert_eq!(tower.transfer_syntax(), Some(NDR));
    assert_eq!(tower.tcp_port(), Some(0));
    assert_eq!(tower, Tower::tcp(&ICERT_PASSAGE, &NDR, 0, [0; 4]));
}

#[test]
fn the_answer_impacket_reads_the_port_from() {
    let answer = EptMapResponse {
        handle: [0; 20],
        towers: vec![Tower::tcp(&ICERT_PASSAGE, &NDR, 49667, [127, 0, 0, 1]).encode()],
        max_towers: 1,
        status: 0,
    };
    let ours = answer.encode();
    let theirs = unhex(EPT_MAP_RESPONSE);
    // Byte for byte but the referent ID and the padding byte's value.
    assert_eq!(ours.len(), theirs.len());
    let differ: Vec<usize> = (0..ours.len()).filter(|i| ours[*i] != theirs[*i]).collect();
    assert!(
        differ.iter().all(|i| (36..40).contains(i) || *i == 123),
        "{differ:?}"
    );
    let back = EptMapResponse::parse(&theirs).unwrap();
    assert_eq!(back.status, 0);
    assert_eq!(
        Tower::parse(&back.towers[0]).unwrap().tcp_port(),
        Some(49667)
    );
    assert_eq!(EptMapResponse::parse(&ours).unwrap().towers, back.towers);
}

#[test]
fn certipys_request_reads_and_writes_back() {
    let bytes = unhex(CSR_REQUEST);
    let r = CertServerRequest::parse(&bytes).unwrap();
    assert_eq!(r.flags, 0);
    assert_eq!(r.authority.as_deref(), Some("contoso-TEST-CA"));
    assert_eq!(r.request_id, 0);
    assert_eq!(
        r.attributes,
        "CertificateTemplate:User\nSAN:upn=alice@contoso.test"
    );
    assert_eq!(r.request, (1..=10).collect::<Vec<u8>>());
    assert!(!r.is_retrieval());
    let again = CertServerRequest::parse(&r.encode()).unwrap();
    assert_eq!(again, r);
}

#[test]
fn certipys_retrieve_names_only_the_request_id() {
    let r = CertServerRequest::parse(&unhex(RETRIEVE_REQUEST)).unwrap();
    assert_eq!((r.request_id, r.attributes.as_str()), (7, ""));
    assert!(r.is_retrieval());
    assert_eq!(r.encode().len(), unhex(RETRIEVE_REQUEST).len());
}

#[test]
fn a_response_round_trips_with_empty_blobs_as_null() {
    let issued = CertServerResponse {
        request_id: 12,
        disposition: 3,
        cert_chain: vec![0x30, 1, 2],
        encoded_cert: vec![0x30, 3, 4, 5, 6],
        disposition_message: "Issued".into(),
        status: 0,
    };
    assert_eq!(CertServerResponse::parse(&issued.encode()).unwrap(), issued);
    let denied = CertServerResponse {
        request_id: 13,
        disposition: 0x8009_4012,
        cert_chain: vec![],
        encoded_cert: vec![],
        disposition_message: "Denied by Policy Module".into(),
        status: 0,
    };
    let bytes = denied.encode();
    // cb 0 and a NULL pointer, twice.
    assert_eq!(bytes[8..24], [0u8; 16]);
    assert_eq!(CertServerResponse::parse(&bytes).unwrap(), denied);
}

#[test]
fn lengths_that_overrun_or_disagree_are_refused() {
    let mut bytes = unhex(CSR_REQUEST);
    // The attributes' cb says 0x69 while the array holds 0x68 bytes.
    let at = bytes.windows(4).position(|w| w == [0x68, 0, 0, 0]).unwrap();
    bytes[at] = 0x69;
    assert!(CertServerRequest::parse(&bytes).is_err());
    let bytes = unhex(CSR_REQUEST);
    for cut in 0..bytes.len() {
        assert!(
            CertServerRequest::parse(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut huge = unhex(RETRIEVE_REQUEST);
    huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(CertServerRequest::parse(&huge).is_err());
    let t = unhex(EPT_MAP_REQUEST);
    for cut in 0..t.len() {
        assert!(EptMap::parse(&t[..cut]).is_err(), "cut at {cut}");
    }
}

//! The domain's DNS zone over UDP and TCP, asked with hickory-proto's
//! messages: the DC's and the CA host's addresses, AD's SRV records
//! naming LDAP's port, nothing for names outside the zone.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use mock_ca::testing::start_with;
use mock_ca::web::dns::DnsConfig;
use mock_ca::web::ldap::LdapConfig;
use mock_ca::web::{Server, WebOptions};
use mock_ca::CaConfig;

fn server() -> Server {
    start_with(
        CaConfig::default(),
        WebOptions {
            tls: false,
            ldap: Some(LdapConfig {
                port: 0,
                ldaps_port: 0,
                ..Default::default()
            }),
            dns: Some(DnsConfig {
                port: 0,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
}

fn query(name: &str, kind: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(7)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    m.to_vec().unwrap()
}

fn ask_udp(at: SocketAddr, name: &str, kind: RecordType) -> Message {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.send_to(&query(name, kind), at).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

fn ask_tcp(at: SocketAddr, name: &str, kind: RecordType) -> Message {
    let mut s = TcpStream::connect(at).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let q = query(name, kind);
    s.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
    s.write_all(&q).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).unwrap();
    Message::from_vec(&buf).unwrap()
}

#[test]
fn the_zone_names_the_dc_the_ca_host_and_ads_srv_records() {
    let s = server();
    let at = s.dns_addr().expect("the zone is served");
    let ldap_port = s.ldap_addrs().unwrap().0.port();
    let srv = ask_udp(at, "_ldap._tcp.dc._msdcs.contoso.test.", RecordType::SRV);
    assert_eq!(srv.response_code(), ResponseCode::NoError);
    assert!(srv.authoritative());
    match srv.answers()[0].data() {
        RData::SRV(r) => {
            assert_eq!(r.port(), ldap_port);
            assert_eq!(r.target().to_ascii(), "dc01.contoso.test.");
        }
        other => panic!("{other:?}"),
    }
    for host in ["dc01.contoso.test.", "CA01.contoso.test.", "contoso.test."] {
        for answer in [
            ask_udp(at, host, RecordType::A),
            ask_tcp(at, host, RecordType::A),
        ] {
            match answer.answers().first().map(|r| r.data()) {
                Some(RData::A(a)) => assert_eq!(a.0.to_string(), "127.0.0.1", "{host}"),
                other => panic!("{host}: {other:?}"),
            }
        }
    }
    assert_eq!(
        ask_udp(at, "nothere.contoso.test.", RecordType::A).response_code(),
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask_udp(at, "example.com.", RecordType::A).response_code(),
        ResponseCode::Refused
    );
    // No realm on this site: no Kerberos SRV records.
    let krb = ask_udp(at, "_kerberos._tcp.contoso.test.", RecordType::SRV);
    assert!(krb.answers().is_empty());
}

//! The ports mail protocols are expected on.
//!
//! 2525 is counted as an SMTP port: it is not IANA-assigned, but it is the
//! alternative submission port that mail providers document and that
//! malware reaches for when 25 and 587 are filtered, so a policy should
//! decide on it at the SYN like on the registered ports.

use mailgate_protocol::record::MailProto;

/// Every port that carries a mail protocol by convention: SYNs to these are
/// decided at once, and non-mail traffic on them is `non_mail_on_mail_port`.
pub const MAIL_PORTS: &[u16] = &[25, 465, 587, 2525, 110, 995, 143, 993];

const SMTP_PORTS: &[u16] = &[25, 465, 587, 2525];
const IMAP_PORTS: &[u16] = &[143, 993];
const POP3_PORTS: &[u16] = &[110, 995];

/// The standard ports of a protocol (cleartext/STARTTLS and implicit TLS):
/// what an allow rule without `ports` admits, and what is not "nonstandard".
pub fn standard_ports(proto: MailProto) -> &'static [u16] {
    match proto {
        MailProto::Smtp => SMTP_PORTS,
        MailProto::Imap => IMAP_PORTS,
        MailProto::Pop3 => POP3_PORTS,
    }
}

/// True when `port` is one of [`MAIL_PORTS`].
pub fn is_mail_port(port: u16) -> bool {
    MAIL_PORTS.contains(&port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_ports_are_exactly_the_standard_ports_of_all_protocols() {
        let mut all: Vec<u16> = [MailProto::Smtp, MailProto::Imap, MailProto::Pop3]
            .into_iter()
            .flat_map(|p| standard_ports(p).iter().copied())
            .collect();
        all.sort_unstable();
        let mut mail = MAIL_PORTS.to_vec();
        mail.sort_unstable();
        assert_eq!(all, mail);
        assert!(is_mail_port(993) && !is_mail_port(443));
    }
}

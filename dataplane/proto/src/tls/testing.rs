//! Test-only builders for ClientHello bytes, so tests can state a hello by
//! its parts instead of as opaque hex.

/// A ClientHello by its parts.
#[derive(Debug, Clone)]
pub(crate) struct Hello {
    pub(crate) version: u16,
    pub(crate) session_id: Vec<u8>,
    pub(crate) ciphers: Vec<u16>,
    /// When set, written as the cipher_suites vector instead of `ciphers`.
    pub(crate) raw_ciphers: Option<Vec<u8>>,
    pub(crate) compression: Vec<u8>,
    /// `None`: the hello ends after the compression methods.
    pub(crate) extensions: Option<Vec<(u16, Vec<u8>)>>,
}

impl Hello {
    /// A TLS 1.2 hello with two suites, null compression and no extension yet.
    pub(crate) fn tls12() -> Self {
        Hello {
            version: 0x0303,
            session_id: Vec::new(),
            ciphers: vec![0xc02b, 0xc02f],
            raw_ciphers: None,
            compression: vec![0],
            extensions: Some(Vec::new()),
        }
    }

    /// Appends an extension.
    pub(crate) fn ext(mut self, ext_type: u16, data: Vec<u8>) -> Self {
        self.extensions.get_or_insert_with(Vec::new).push((ext_type, data));
        self
    }

    /// The handshake message (header included).
    pub(crate) fn message(&self) -> Vec<u8> {
        let mut body = self.version.to_be_bytes().to_vec();
        body.extend((0u8..32).map(|i| i.wrapping_mul(7)));
        push_vec_u8(&mut body, &self.session_id);
        let ciphers = match &self.raw_ciphers {
            Some(raw) => raw.clone(),
            None => self.ciphers.iter().flat_map(|c| c.to_be_bytes()).collect(),
        };
        push_vec_u16(&mut body, &ciphers);
        push_vec_u8(&mut body, &self.compression);
        if let Some(extensions) = &self.extensions {
            let mut block = Vec::new();
            for (ext_type, data) in extensions {
                block.extend(ext_type.to_be_bytes());
                push_vec_u16(&mut block, data);
            }
            push_vec_u16(&mut body, &block);
        }
        let len = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
        let mut message = vec![1, len[1], len[2], len[3]];
        message.extend(body);
        message
    }

    /// The hello in records of at most `size` bytes of fragment each.
    pub(crate) fn records(&self, size: usize) -> Vec<u8> {
        records(&self.message(), size)
    }
}

/// `message` cut into TLS 1.0 handshake records of at most `size` bytes.
pub(crate) fn records(message: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for fragment in message.chunks(size.max(1)) {
        out.extend([22, 3, 1]);
        push_vec_u16(&mut out, fragment);
    }
    out
}

/// The handshake messages carried by the records of `stream`, joined.
pub(crate) fn join_records(stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = stream;
    while let [22, _, _, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        out.extend_from_slice(tail.get(..len).unwrap_or(&[]));
        rest = tail.get(len..).unwrap_or(&[]);
    }
    out
}

fn push_vec_u8(out: &mut Vec<u8>, data: &[u8]) {
    out.push(u8::try_from(data.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(data);
}

fn push_vec_u16(out: &mut Vec<u8>, data: &[u8]) {
    out.extend(u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(data);
}

/// `server_name` extension data with the given (name type, name) entries.
pub(crate) fn sni_data(names: &[(u8, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (name_type, name) in names {
        list.push(*name_type);
        push_vec_u16(&mut list, name);
    }
    let mut data = Vec::new();
    push_vec_u16(&mut data, &list);
    data
}

/// ALPN extension data with the given protocol names.
pub(crate) fn alpn_data(names: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for name in names {
        push_vec_u8(&mut list, name);
    }
    let mut data = Vec::new();
    push_vec_u16(&mut data, &list);
    data
}

/// A two-byte-length list of 16-bit values (supported_groups, signature_algorithms).
pub(crate) fn u16_list_data(values: &[u16]) -> Vec<u8> {
    let mut data = Vec::new();
    push_vec_u16(&mut data, &values.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<_>>());
    data
}

/// supported_versions extension data (one-byte-length list of versions).
pub(crate) fn versions_data(versions: &[u16]) -> Vec<u8> {
    let mut data = Vec::new();
    push_vec_u8(&mut data, &versions.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<_>>());
    data
}

/// ec_point_formats extension data.
pub(crate) fn point_formats_data(formats: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    push_vec_u8(&mut data, formats);
    data
}

/// Decodes a fixture's hex text.
pub(crate) fn from_hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks_exact(2)
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect()
}

//! Logging in: the plain `/login` of RouterOS 6.43+, falling back to the MD5 challenge of older
//! versions when the router answers `!done =ret=<challenge>`.

use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::codec::{Command, Decoder, Reply, ReplyKind};

use super::{ClientConfig, Error, Trap};

/// Which login the router took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginMode {
    /// RouterOS 6.43+: name and password in one sentence.
    Plain,
    /// Before 6.43: MD5 over a challenge.
    Challenge,
}

/// The `=response=` for a legacy challenge: `00` + hex(md5(0x00 ‖ password ‖ challenge)).
pub(crate) fn challenge_response(password: &[u8], challenge_hex: &[u8]) -> Option<String> {
    let challenge = decode_hex(challenge_hex)?;
    let mut md5 = Md5::new();
    md5.update([0u8]);
    md5.update(password);
    md5.update(&challenge);
    let digest = md5.finalize();
    let mut out = String::from("00");
    for byte in digest.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    Some(out)
}

fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// Runs the login exchange on a fresh stream (untagged, before the reader task starts).
pub(crate) async fn login<S>(
    stream: &mut S,
    decoder: &mut Decoder,
    config: &ClientConfig,
) -> Result<LoginMode, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = config.codepage.encode(&config.username).into_owned();
    let password = config.password.expose().as_bytes();
    let plain = Command::new("/login")
        .attr("name", &name)
        .attr("password", password);
    send(stream, &plain).await?;
    let done = read_until_done(stream, decoder, config).await?;
    let Some(challenge) = done.attribute("ret") else {
        return Ok(LoginMode::Plain);
    };
    let response = challenge_response(password, challenge)
        .ok_or_else(|| Error::UnexpectedReply("login challenge is not hex".to_owned()))?;
    let legacy = Command::new("/login")
        .attr("name", &name)
        .attr("response", response);
    send(stream, &legacy).await?;
    read_until_done(stream, decoder, config).await?;
    Ok(LoginMode::Challenge)
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, command: &Command) -> Result<(), Error> {
    let bytes = command.to_sentence(None).to_bytes()?;
    stream.write_all(&bytes).await.map_err(closed)?;
    stream.flush().await.map_err(closed)
}

async fn read_until_done<S: AsyncRead + Unpin>(
    stream: &mut S,
    decoder: &mut Decoder,
    config: &ClientConfig,
) -> Result<Reply, Error> {
    let mut trap = None;
    let mut buf = [0u8; 4096];
    loop {
        while let Some(sentence) = decoder.decode()? {
            let reply = Reply::from_sentence(sentence);
            match reply.kind {
                ReplyKind::Trap => trap = Some(Trap::from_reply(&reply, config.codepage)),
                ReplyKind::Done => {
                    return match trap {
                        Some(trap) => Err(Error::LoginRefused(trap.message)),
                        None => Ok(reply),
                    };
                }
                ReplyKind::Fatal => {
                    let reason = reply
                        .bare
                        .first()
                        .map(|w| config.codepage.decode(w).into_owned())
                        .unwrap_or_default();
                    return Err(Error::Fatal(reason));
                }
                _ => {}
            }
        }
        let n = stream.read(&mut buf).await.map_err(closed)?;
        if n == 0 {
            return Err(Error::Closed(
                "router closed the connection during login".to_owned(),
            ));
        }
        decoder.feed(&buf[..n]);
    }
}

fn closed(error: std::io::Error) -> Error {
    Error::Closed(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_response_matches_a_known_vector() {
        // 00 + md5(0x00 ‖ "admin" ‖ unhex(challenge)), computed independently with hashlib.
        let expect = "006dc4a5dba15b56ac7949efa62b005063";
        let lower = challenge_response(b"admin", b"ebddd18303a54111e2dea05a92ab46b4");
        let upper = challenge_response(b"admin", b"EBDDD18303A54111E2DEA05A92AB46B4");
        assert_eq!(lower.as_deref(), Some(expect));
        assert_eq!(upper.as_deref(), Some(expect));
        assert!(challenge_response(b"x", b"zz").is_none());
        assert!(challenge_response(b"x", b"abc").is_none());
    }
}

//! The gRPC codec of every generated `comity.v1` stub: tonic's prost codec, except that bytes
//! which do not decode are the sender's fault (INVALID_ARGUMENT), not the receiver's (tonic
//! answers INTERNAL). Garbage, invalid UTF-8 in a string and nesting beyond prost's recursion
//! limit all land here, before any handler runs.

use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::Status;
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Longest decode reason quoted back: prost's names the path of nested fields, which a deeply
/// nested message makes long.
const MAX_REASON_CHARS: usize = 200;

/// [`ProstCodec`] with undecodable messages refused as INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct ComityCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Default for ComityCodec<T, U> {
    fn default() -> Self {
        Self(ProstCodec::default())
    }
}

impl<T, U> Codec for ComityCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = InvalidArgumentDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        InvalidArgumentDecoder(self.0.decoder())
    }
}

/// [`ProstDecoder`] whose decode errors are INVALID_ARGUMENT with a bounded message.
#[derive(Debug, Clone)]
pub struct InvalidArgumentDecoder<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for InvalidArgumentDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| Status::invalid_argument(undecodable(status.message())))
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

/// The message of a refused undecodable message, quoting at most [`MAX_REASON_CHARS`] of `reason`.
fn undecodable(reason: &str) -> String {
    let mut shown: String = reason.chars().take(MAX_REASON_CHARS).collect();
    if shown.len() < reason.len() {
        shown.push('…');
    }
    format!("the message could not be decoded as comity.v1 protobuf ({shown})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_is_bounded() {
        let long = "A.b: ".repeat(1000);
        let message = undecodable(&long);
        assert!(message.len() < 300, "{}", message.len());
        assert!(message.starts_with("the message could not be decoded"));
        assert_eq!(undecodable("invalid wire type"), "the message could not be decoded as comity.v1 protobuf (invalid wire type)");
    }
}

//! Veil's block as Commonware sees it.

use bytes::{Buf as _, BufMut};
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write, varint::UInt};
use commonware_consensus::{Heightable, types::Height};
use commonware_cryptography::Digestible;
use parity_scale_codec::Encode;
use veil_primitives::{Block, Hash, block::MAX_BLOCK_BYTES, decode_strict};

use crate::alias::Digest;

/// A [`veil_primitives::Block`] with its header hash computed once. In Commonware's codec it is the
/// block's SCALE encoding behind a length prefix, decoded strictly, so encoding stays canonical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusBlock {
    block: Block,
    digest: Digest,
}

impl ConsensusBlock {
    /// Wraps `block`.
    pub fn new(block: Block) -> Self {
        let digest = to_digest(block.header.hash());
        Self { block, digest }
    }

    /// The block.
    pub fn block(&self) -> &Block {
        &self.block
    }
}

/// Our hash as Commonware's digest type (both are 32-byte SHA-256).
pub fn to_digest(hash: Hash) -> Digest {
    Digest::from(hash.0)
}

/// Commonware's digest as our hash.
pub fn to_hash(digest: &Digest) -> Hash {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(digest.as_ref());
    Hash(bytes)
}

/// Writes `bytes` framed as the stores and the network carry them: a varint length, then the bytes.
pub(crate) fn write_framed(bytes: &[u8], buf: &mut impl BufMut) {
    UInt(bytes.len() as u64).write(buf);
    buf.put_slice(bytes);
}

/// The size of `len` bytes framed by [`write_framed`].
pub(crate) fn framed_size(len: usize) -> usize {
    UInt(len as u64).encode_size() + len
}

/// Reads bytes framed by [`write_framed`], refusing a length over `limit` before allocating.
pub(crate) fn read_framed(
    buf: &mut impl Buf,
    limit: usize,
    what: &'static str,
    too_long: &'static str,
) -> Result<Vec<u8>, CodecError> {
    let len: u64 = UInt::read(buf)?.into();
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > limit {
        return Err(CodecError::Invalid(what, too_long));
    }
    if buf.remaining() < len {
        return Err(CodecError::EndOfBuffer);
    }
    let mut bytes = vec![0u8; len];
    buf.copy_to_slice(&mut bytes);
    Ok(bytes)
}

impl Write for ConsensusBlock {
    fn write(&self, buf: &mut impl BufMut) {
        write_framed(&self.block.encode(), buf);
    }
}

impl EncodeSize for ConsensusBlock {
    fn encode_size(&self) -> usize {
        framed_size(self.block.encoded_size())
    }
}

impl Read for ConsensusBlock {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let bytes = read_framed(buf, MAX_BLOCK_BYTES, "ConsensusBlock", "longer than the largest block")?;
        let block =
            decode_strict::<Block>(&bytes).map_err(|_| CodecError::Invalid("ConsensusBlock", "not a Veil block"))?;
        Ok(Self::new(block))
    }
}

impl Digestible for ConsensusBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        self.digest
    }
}

impl Heightable for ConsensusBlock {
    fn height(&self) -> Height {
        Height::new(self.block.header.height)
    }
}

impl commonware_consensus::Block for ConsensusBlock {
    fn parent(&self) -> Digest {
        to_digest(self.block.header.parent)
    }
}

impl commonware_consensus::BoundedBlock for ConsensusBlock {
    fn max_encode_size(_: &()) -> usize {
        UInt(MAX_BLOCK_BYTES as u64).encode_size() + MAX_BLOCK_BYTES
    }
}

//! Generated protocol types (`proto/symbatcher/v1`) and the descriptor set
//! served by reflection.

/// Messages and services of package `symbatcher.v1`.
#[allow(clippy::large_enum_variant)] // generated: a oneof's variants differ in size
pub mod v1 {
    tonic::include_proto!("symbatcher.v1");
}

/// Encoded `FileDescriptorSet` of the protocol, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("symbatcher_descriptor");

//! Compiles `proto/symbatcher/v1/*.proto` with protox (pure Rust, so no system
//! `protoc` is needed) and generates prost messages and tonic services.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/symbatcher/v1/common.proto",
        "proto/symbatcher/v1/batch.proto",
        "proto/symbatcher/v1/worker.proto",
        "proto/symbatcher/v1/engine.proto",
        "proto/symbatcher/v1/status.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("symbatcher_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}

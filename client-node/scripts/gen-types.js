#!/usr/bin/env node
/**
 * Generates the TypeScript message and service types in src/generated/ from
 * the repository's proto/ (the single source of truth) with
 * @grpc/proto-loader's proto-loader-gen-types, using the load options of
 * src/proto.ts.
 *
 *     npm run gen:types              # rewrite src/generated/
 *     npm run check:generated        # fail if src/generated/ differs from the protos
 *
 * The check generates into a temporary directory and compares it file by
 * file with src/generated/ (`make test-node` runs it).
 */
"use strict";

const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const PACKAGE_DIR = path.resolve(__dirname, "..");
/** As passed to the generator, relative to PACKAGE_DIR: it is named in each file's header. */
const PROTO_DIR = path.join("..", "proto");
const OUT_DIR = path.join(PACKAGE_DIR, "src", "generated");
const FILES = ["batch", "worker", "engine", "status"].map((name) => `symbatcher/v1/${name}.proto`);
/** The options src/proto.ts loads the protos with, so the types match the objects. */
const OPTIONS = ["--keepCase", "--longs=Number", "--enums=String", "--defaults", "--oneofs"];
const REGENERATE = "cd client-node && npm run gen:types";

function generate(outDir) {
  const bin = path.join(PACKAGE_DIR, "node_modules", ".bin", "proto-loader-gen-types");
  execFileSync(
    bin,
    [...OPTIONS, "--includeComments", "--grpcLib=@grpc/grpc-js", "-I", PROTO_DIR, "-O", outDir, ...FILES],
    { cwd: PACKAGE_DIR, stdio: ["ignore", "ignore", "inherit"] },
  );
}

/** Every file under `dir`, as paths relative to it, sorted. */
function listFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}

/** The files that differ between the two directories, each with why. */
function differences(expectedDir, actualDir) {
  const expected = listFiles(expectedDir);
  const actual = listFiles(actualDir);
  const problems = [];
  for (const file of expected) {
    if (!actual.includes(file)) problems.push(`missing: ${file}`);
    else if (!fs.readFileSync(path.join(expectedDir, file)).equals(fs.readFileSync(path.join(actualDir, file)))) {
      problems.push(`differs: ${file}`);
    }
  }
  for (const file of actual) {
    if (!expected.includes(file)) problems.push(`not generated from the protos: ${file}`);
  }
  return problems;
}

function check() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "symbatcher-gen-types-"));
  try {
    generate(tmp);
    const problems = differences(tmp, OUT_DIR);
    const shown = path.relative(path.resolve(PACKAGE_DIR, ".."), OUT_DIR);
    if (problems.length > 0) {
      console.error(
        `${shown} is out of date with proto/ (${problems.length} file(s)):\n` +
          problems.slice(0, 20).map((p) => `  ${p}\n`).join("") +
          (problems.length > 20 ? `  ... and ${problems.length - 20} more\n` : "") +
          `regenerate the types with: ${REGENERATE}`,
      );
      process.exitCode = 1;
    } else {
      console.log(`${shown} matches proto/ (${listFiles(tmp).length} files)`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function write() {
  fs.rmSync(OUT_DIR, { recursive: true, force: true });
  generate(OUT_DIR);
  console.log(`wrote ${listFiles(OUT_DIR).length} files to ${path.relative(PACKAGE_DIR, OUT_DIR)}/`);
}

if (process.argv.includes("--check")) check();
else write();

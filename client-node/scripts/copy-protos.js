#!/usr/bin/env node
/**
 * Copies the repository's proto/symbatcher/v1/*.proto (the single source of
 * truth) into this package's proto/, which the package loads at run time and
 * ships (package.json "files"). Run by `npm run build`, so by `prepare` (npm
 * ci, npm pack); the copy is not committed (.gitignore).
 *
 * Outside the repository (an unpacked tarball) there is no ../proto: the
 * package's own proto/ is kept if it is there.
 */
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const PACKAGE_DIR = path.resolve(__dirname, "..");
const SOURCE = path.resolve(PACKAGE_DIR, "..", "proto", "symbatcher", "v1");
const TARGET = path.join(PACKAGE_DIR, "proto", "symbatcher", "v1");

if (!fs.existsSync(SOURCE)) {
  if (fs.existsSync(TARGET)) process.exit(0);
  console.error(`copy-protos: neither ${SOURCE} (the repository's protos) nor ${TARGET} exists`);
  process.exit(1);
}
fs.rmSync(path.join(PACKAGE_DIR, "proto"), { recursive: true, force: true });
fs.mkdirSync(TARGET, { recursive: true });
for (const name of fs.readdirSync(SOURCE).filter((file) => file.endsWith(".proto")).sort()) {
  fs.copyFileSync(path.join(SOURCE, name), path.join(TARGET, name));
}

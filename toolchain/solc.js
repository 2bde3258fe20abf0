#!/usr/bin/env node
// A solc command-line facade over solcjs (the official compiler built to WebAssembly).
//
// It speaks the two calls that py-solc-x and brownie make of a native `solc`:
//   solc --version
//   solc --standard-json [--allow-paths a,b] [--base-path p] [--include-path p ...]
// Imports that are not in the input JSON are read from disk, relative to the base path, the
// include paths, the allowed paths and the working directory (in that order), like native solc.
// The output is the compiler's own standard JSON, so a native solc of the same version gives
// byte-identical artifacts.
"use strict";

const fs = require("fs");
const path = require("path");

const solc = require("solc");

function parseArgs(argv) {
  const args = { standardJson: false, version: false, roots: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case "--version":
        args.version = true;
        break;
      case "--standard-json":
        args.standardJson = true;
        break;
      case "--base-path":
      case "--include-path":
        args.roots.push(value());
        break;
      case "--allow-paths":
        args.roots.push(...value().split(",").filter(Boolean));
        break;
      default:
        // Flags that only matter to native solc (e.g. --no-color) are accepted and ignored.
        break;
    }
  }
  args.roots.push(process.cwd());
  return args;
}

function importReader(roots) {
  return (importPath) => {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((root) => path.resolve(root, importPath));
    for (const candidate of candidates) {
      if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) {
        return { contents: fs.readFileSync(candidate, "utf8") };
      }
    }
    return { error: `File not found: ${importPath} (searched ${roots.join(", ")})` };
  };
}

// Write everything, then exit: process.exit() straight after a large write would truncate it.
function writeAndExit(text, code) {
  process.stdout.write(text, () => process.exit(code));
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.version) {
    writeAndExit(
      `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`,
      0,
    );
    return;
  }
  if (!args.standardJson) {
    process.stderr.write("solc facade: only --version and --standard-json are supported\n");
    process.exit(2);
  }
  const input = fs.readFileSync(0, "utf8");
  const output = solc.compile(input, { import: importReader(args.roots) });
  writeAndExit(output, 0);
}

main();

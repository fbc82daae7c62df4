// Validate one .glb with the Khronos glTF-Validator and print its report as one JSON line.
// Usage: node validate_gltf.mjs <node_modules dir holding gltf-validator> <file.glb>
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const [modules, file] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const validator = require(resolve(join(modules, "gltf-validator")));
const report = await validator.validateBytes(new Uint8Array(readFileSync(file)), {
  uri: file,
  maxIssues: 1000,
});
process.stdout.write(JSON.stringify(report) + "\n");

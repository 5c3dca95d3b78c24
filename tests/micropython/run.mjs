// Runs Lentera's MicroPython-compatible packages' tests under the official MicroPython WebAssembly port.
//
// usage: node tests/micropython/run.mjs [--root DIR] [--heapsize BYTES] --tests DIR [--tests DIR ...] PKG_DIR...
//
//   PKG_DIR    package directories relative to --root (e.g. edge_rules, agent/core); their .py files are
//              copied into the interpreter's file system under the same relative path, with the
//              __init__.py of every parent package, so `import agent.core` works as on CPython.
//   --tests    directories of test modules (test_*.py plus helpers); each is copied and put on sys.path.
//   --root     repository root (default: two levels above this script).
//   --heapsize MicroPython heap in bytes (default 32 MiB; the port's 1 MiB default is too small).
//
// Exit status: 0 when every test passed, 1 on any failure, 2 on usage or set-up errors.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FS_ROOT = "/lentera";

function parseArgs(argv) {
  const opts = { root: path.resolve(HERE, "..", ".."), heapsize: 32 * 1024 * 1024, tests: [], pkgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--root") opts.root = path.resolve(value());
    else if (arg === "--heapsize") opts.heapsize = parseInt(value(), 10);
    else if (arg === "--tests") opts.tests.push(value());
    else if (arg.startsWith("--")) throw new Error(`unknown option ${arg}`);
    else opts.pkgs.push(arg);
  }
  if (opts.tests.length === 0) throw new Error("give at least one --tests DIR");
  if (!Number.isFinite(opts.heapsize) || opts.heapsize <= 0) throw new Error("--heapsize must be a positive integer");
  return opts;
}

function mkdirs(FS, fsPath) {
  let cur = "";
  for (const part of fsPath.split("/").filter(Boolean)) {
    cur += "/" + part;
    if (!FS.analyzePath(cur).exists) FS.mkdir(cur);
  }
}

function copyPyFiles(FS, hostDir, fsDir) {
  if (!fs.existsSync(hostDir) || !fs.statSync(hostDir).isDirectory()) {
    throw new Error(`not a directory: ${hostDir}`);
  }
  mkdirs(FS, fsDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const hostPath = path.join(hostDir, entry.name);
    if (entry.isDirectory() && entry.name !== "__pycache__") {
      copyPyFiles(FS, hostPath, fsDir + "/" + entry.name);
    } else if (entry.isFile() && entry.name.endsWith(".py")) {
      FS.writeFile(fsDir + "/" + entry.name, fs.readFileSync(hostPath));
    }
  }
}

function copyPackage(FS, root, rel) {
  const parts = rel.split(/[\\/]/).filter(Boolean);
  // parent packages need their __init__.py for `import a.b` to resolve
  for (let n = 1; n < parts.length; n++) {
    const init = path.join(root, ...parts.slice(0, n), "__init__.py");
    const fsDir = FS_ROOT + "/" + parts.slice(0, n).join("/");
    mkdirs(FS, fsDir);
    if (fs.existsSync(init)) FS.writeFile(fsDir + "/__init__.py", fs.readFileSync(init));
  }
  const hostPath = path.join(root, ...parts);
  if (rel.endsWith(".py") && fs.existsSync(hostPath) && fs.statSync(hostPath).isFile()) {
    FS.writeFile(FS_ROOT + "/" + parts.join("/"), fs.readFileSync(hostPath));  // a lone module
    return;
  }
  copyPyFiles(FS, hostPath, FS_ROOT + "/" + parts.join("/"));
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`run.mjs: ${err.message}\n`);
    return 2;
  }
  const mp = await loadMicroPython({
    heapsize: opts.heapsize,
    stdout: (line) => process.stdout.write(line + "\n"),
    stderr: (line) => process.stderr.write(line + "\n"),
  });
  const testDirs = [];
  try {
    for (const pkg of opts.pkgs) copyPackage(mp.FS, opts.root, pkg);
    opts.tests.forEach((dir, i) => {
      const fsDir = `/tests${i}`;
      copyPyFiles(mp.FS, path.resolve(opts.root, dir), fsDir);
      testDirs.push(fsDir);
    });
    copyPyFiles(mp.FS, HERE, "/harness");
  } catch (err) {
    process.stderr.write(`run.mjs: ${err.message}\n`);
    return 2;
  }
  const paths = JSON.stringify(["/harness", FS_ROOT, ...testDirs]);
  // MicroPython's asyncio runs on the JavaScript event loop: the runner is started as a task
  // and reports back through these two callbacks (top-level await breaks with wait_for).
  const outcome = new Promise((resolve) => {
    globalThis.lenteraTestsDone = (ok, message) => resolve({ ok, message });
  });
  try {
    await mp.runPythonAsync(
      `import sys\nfor p in ${paths}:\n    sys.path.insert(0, p)\n` +
        `import asyncio, js, mp_runner\n` +
        `async def _lentera_main():\n` +
        `    try:\n` +
        `        await mp_runner.main(${JSON.stringify(testDirs)})\n` +
        `        js.lenteraTestsDone(True, "")\n` +
        `    except BaseException as exc:\n` +
        `        sys.print_exception(exc)\n` +
        `        js.lenteraTestsDone(False, repr(exc))\n` +
        `asyncio.create_task(_lentera_main())\n`,
    );
  } catch (err) {
    process.stderr.write(String(err.message || err) + "\n");
    return 1;
  }
  const result = await outcome;
  if (!result.ok) {
    process.stderr.write(result.message + "\n");
    return 1;
  }
  return 0;
}

process.exitCode = await main();

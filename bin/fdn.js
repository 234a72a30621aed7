#!/usr/bin/env node
// The `fdn` command as installed: the package's `bin` (npm link, npm install
// -g), the Docker image, the systemd unit. fdn is TypeScript that Node runs by
// stripping the types, which Node 20 cannot, so this plain JavaScript (any
// Node >= 20 runs it) starts the Node 24 that npm installs with fdn (the npm
// package `node`) on bin/fdn.ts, and stands in for it: same arguments, the
// same standard streams and working directory, SIGINT/SIGTERM/SIGHUP passed
// on (so `fdn start` under systemd or docker stops cleanly), and its exit code
// or signal as this process's own.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { constants } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP']

// through the links of npm link / npm install -g to the package itself
const root = path.dirname(path.dirname(realpathSync(fileURLToPath(import.meta.url))))
const entry = path.join(root, 'bin', 'fdn.ts')

const node = projectNode() ?? (stripsTypes(process.versions.node) ? process.execPath : undefined)
if (node == null) {
  process.stderr.write(`fdn: Node ${process.version} cannot run fdn (it needs 22.18 or newer), and the Node 24 that fdn installs with npm is missing from ${root}: run 'npm ci' there, or run fdn with a newer Node\n`)
  process.exit(1)
}

const child = spawn(node, [entry, ...process.argv.slice(2)], { stdio: 'inherit' })
for (const signal of FORWARDED) process.on(signal, () => { child.kill(signal) })
child.on('error', (err) => {
  process.stderr.write(`fdn: cannot start ${node}: ${err.message}\n`)
  process.exit(1)
})
child.on('exit', (code, signal) => {
  if (signal == null) process.exit(code ?? 1)
  // die of the same signal, so that a shell or systemd sees what happened to fdn
  for (const forwarded of FORWARDED) process.removeAllListeners(forwarded)
  process.exitCode = 128 + (constants.signals[signal] ?? 0)
  process.kill(process.pid, signal)
})

/** The binary of the npm package `node` that fdn's install holds (hoisted or not), if it is there. */
function projectNode () {
  let manifest
  try {
    manifest = createRequire(path.join(root, 'package.json')).resolve('node/package.json')
  } catch {
    return undefined
  }
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'))
  const file = path.join(path.dirname(manifest), typeof bin === 'string' ? bin : bin.node)
  return existsSync(file) ? file : undefined
}

/** Whether a Node version runs .ts files without flags (22.18, 23.6 and later). */
function stripsTypes (version) {
  const [major, minor] = version.split('.').map(Number)
  return major > 23 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18)
}

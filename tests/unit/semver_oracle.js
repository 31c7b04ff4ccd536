// The npm `semver` package as an oracle for tests/unit/test_semver_property.py.
//
// Reads one JSON array of requests per line on stdin, each {"op": ..., "args": [...]}, and
// writes one JSON array of answers per line on stdout, each {"ok": value} or {"error": message}.
// The first line written is {"semver": "<version>"} so the tests can check which release answers.
'use strict'

const readline = require('node:readline')
const semver = require('semver')

const ops = {
  // The parsed version (or null), with the parts the Python port keeps.
  parse: (text) => {
    const v = semver.parse(text)
    return v && { version: v.version, prerelease: v.prerelease, build: v.build }
  },
  compare: (a, b) => semver.compare(a, b),
  validRange: (range) => semver.validRange(range),
  satisfies: (version, range) => semver.satisfies(version, range),
  maxSatisfying: (versions, range) => semver.maxSatisfying(versions, range),
}

const answer = ({ op, args }) => {
  try {
    if (!Object.hasOwn(ops, op)) {
      throw new Error(`unknown op ${JSON.stringify(op)}`)
    }
    const value = ops[op](...args)
    return { ok: value === undefined ? null : value }
  } catch (err) {
    return { error: String(err && err.message ? err.message : err) }
  }
}

process.stdout.write(JSON.stringify({ semver: require('semver/package.json').version }) + '\n')
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
lines.on('line', (line) => {
  let requests
  try {
    requests = JSON.parse(line)
  } catch (err) {
    process.stdout.write(JSON.stringify([{ error: `bad request line: ${err.message}` }]) + '\n')
    return
  }
  process.stdout.write(JSON.stringify(requests.map(answer)) + '\n')
})
lines.on('close', () => process.exit(0))

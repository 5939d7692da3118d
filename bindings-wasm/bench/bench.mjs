// Runs bench.js in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) against the installed dekbox-browser package and prints
// the table: dekbox-browser vs Web Crypto in the same run.
//
//   DEKBOX_BROWSER_PKG=…/dist DEKBOX_TOKEN=dekbox:key:v1:… node bench.mjs [--quick]
import { createServer } from 'node:http'
import { readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { chromium } from 'playwright-core'

const quick = process.argv.includes('--quick')
const pkg = resolve(process.env.DEKBOX_BROWSER_PKG)
const here = resolve(new URL('.', import.meta.url).pathname)
const token = process.env.DEKBOX_TOKEN
const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' }

const server = createServer((req, res) => {
  const url = req.url.split('?')[0]
  const file = url === '/' ? join(here, 'bench.html')
    : url.startsWith('/pkg/') ? join(pkg, url.slice(5)) : join(here, url.slice(1))
  try {
    statSync(file)
    res.writeHead(200, { 'content-type': types[file.slice(file.lastIndexOf('.'))] || 'application/octet-stream' })
    res.end(readFileSync(file))
  } catch {
    res.writeHead(404)
    res.end()
  }
})
await new Promise((r) => server.listen(0, '127.0.0.1', r))
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] })
try {
  const page = await browser.newPage()
  await page.goto(`http://127.0.0.1:${server.address().port}/`)
  const out = await page.evaluate(async (args) => (await import('/bench.js')).run(args), { token, quick })
  console.log(`Chromium ${browser.version()}: µs per message (median); ratio = dekbox / Web Crypto awaited one at a time`)
  for (const { label, us } of out.sizes) {
    const base = us['webcrypto await each']
    console.log(`\n${label}`)
    for (const [name, v] of Object.entries(us)) {
      console.log(`  ${name.padEnd(30)} ${v.toFixed(2).padStart(10)} µs   ${(v / base).toFixed(2)}x`)
    }
  }
  console.log('\ncrossover: AES-GCM in wasm (sync open) vs Web Crypto decrypt, µs per message')
  for (const { size, wasm, webcrypto } of out.crossover) {
    console.log(`  ${String(size / 1024).padStart(4)} KiB  wasm ${wasm.toFixed(1).padStart(8)}  webcrypto ${webcrypto.toFixed(1).padStart(8)}  ${(wasm / webcrypto).toFixed(2)}x`)
  }
} finally {
  await browser.close()
  server.close()
}

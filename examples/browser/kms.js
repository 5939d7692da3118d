// AWS KMS from the page. Real apps get short-lived credentials from a Cognito
// identity pool or STS; this example reads them (and the key and endpoint)
// from the URL fragment, which never leaves the browser.
import init, { Box } from '/pkg/kms/dekbox.js'

const $ = (id) => document.getElementById(id)
const p = new URLSearchParams(location.hash.slice(1))

async function main() {
  await init()
  const box = new Box({
    key: p.get('key'),
    endpoint: p.get('endpoint'),
    region: p.get('region') || 'us-east-1',
    credentials: { accessKeyId: p.get('akid'), secretAccessKey: p.get('secret') },
  })
  const context = { tenant: 'acme' }
  const sealed = await box.encrypt('sealed in the browser with AWS KMS', { context, aad: 'rows/1', text: true })
  $('sealed').textContent = sealed
  $('plain').textContent = await box.decryptText(sealed, { context, aad: 'rows/1' })
  try {
    await box.decrypt(sealed, { context: { tenant: 'globex' }, aad: 'rows/1' })
    $('wrong').textContent = 'opened (wrong!)'
  } catch (e) {
    $('wrong').textContent = e.code
  }
  for (let i = 0; i < 20; i++) {
    const s = await box.encrypt(`value ${i}`, { context, aad: `rows/${i}` })
    await box.decrypt(s, { context, aad: `rows/${i}` })
  }
  $('stats').textContent = JSON.stringify(box.cacheStats())
  document.body.dataset.done = 'yes'
}

main().catch((e) => {
  $('error').textContent = `${e.name}: ${e.message}${e.code ? ` (${e.code})` : ''}`
  document.body.dataset.done = 'error'
})

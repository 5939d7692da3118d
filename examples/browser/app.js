// The page side of examples/browser: open a note the server sealed, seal a
// reply the server opens. The key never reaches the page except as a message
// key the server chose to hand out, and it is wiped from the module's memory
// when each call (or `free()`) ends.
import init, { DataKey, openWithDataKey } from '/pkg/web/dekbox.js'

const $ = (id) => document.getElementById(id)

async function main() {
  await init()

  // 1. A note sealed by the server (Python), with its message key.
  const note = await (await fetch('/api/note')).json()
  const opened = openWithDataKey(note.message, note.key, { context: note.context, aad: note.aad })
  $('note').textContent = new TextDecoder().decode(opened)

  // 2. A reply sealed here under a fresh key the server made for this user.
  const upload = await (await fetch('/api/upload-key')).json()
  const key = DataKey.from(upload.key)
  let sealed
  try {
    sealed = key.seal('Written in the browser.', { context: upload.context, aad: upload.aad, text: true })
  } finally {
    key.free()
  }
  const r = await fetch('/api/notes', { method: 'POST', body: JSON.stringify({ message: sealed }) })
  const answer = await r.json()
  if (!r.ok) throw new Error(`the server could not open the reply: ${answer.error}`)
  $('reply').textContent = answer.read
  document.body.dataset.done = 'yes'
}

main().catch((e) => {
  $('error').textContent = `${e.name}: ${e.message}${e.code ? ` (${e.code})` : ''}`
  document.body.dataset.done = 'error'
})

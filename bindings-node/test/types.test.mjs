// The shipped .d.ts files type a strict TypeScript program (tsc from npm).
import test from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { writeFileSync, mkdtempSync, copyFileSync, symlinkSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const here = dirname(fileURLToPath(import.meta.url))

test('tsc --strict compiles a sample against the package, and rejects misuse', () => {
  const require = createRequire(import.meta.url)
  const tsc = join(dirname(require.resolve('typescript/package.json')), 'bin', 'tsc')
  const dir = mkdtempSync(join(here, '..', '.tsc-'))
  copyFileSync(join(here, 'types-sample.ts'), join(dir, 'sample.ts'))
  symlinkSync(join(here, '..', 'node_modules'), join(dir, 'node_modules'))
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022',
      types: ['node'], skipLibCheck: false, noUnusedLocals: false,
    },
    files: ['sample.ts'],
  }))
  let out = ''
  try {
    out = execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`)
  }
  assert.equal(out.trim(), '')
})

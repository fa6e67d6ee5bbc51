'use strict';
// The published declarations as a user sees them: tsc over test/types/,
// where 'sendgroup' resolves through package.json "exports" to dist/*.d.ts
// (build:ts writes them). Expected uses must type-check and every misuse
// marked @ts-expect-error must fail, or tsc reports the directive unused.
// README's TypeScript example must compile against them too.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { testUnless } = require('./_helpers');

const root = path.join(__dirname, '..');
const otherPass = process.env.SENDGROUP_TEST_PASS === 'blocked' || Number(process.env.SENDGROUP_THREADS) > 0;
const typesTest = testUnless(test, otherPass && 'declarations depend on neither backend nor threads: checked in pass 1', '85.types');

/** Runs tsc -p project; fails the test with tsc's diagnostics. */
function tsc(project) {
  // Node hands NODE_V8_COVERAGE on to children whatever env says: keep
  // the compiler's coverage out of c8's directory.
  const coverage = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cov-'));
  try {
    const result = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project],
      { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_V8_COVERAGE: coverage } });
    assert.is(result.status, 0, `tsc failed:\n${result.stdout}${result.stderr}`);
  } finally {
    fs.rmSync(coverage, { recursive: true, force: true });
  }
}

typesTest('the declarations accept what test/types/ uses and refuse its misuses', () => {
  tsc(path.join(__dirname, 'types', 'tsconfig.json'));
});

typesTest('README\'s TypeScript example compiles against the declarations', () => {
  const blocks = [...fs.readFileSync(path.join(root, 'README.md'), 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  assert.ok(blocks.length > 0, 'README has a ```ts example');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-readme-'));
  try {
    const files = blocks.map((code, i) => {
      fs.writeFileSync(path.join(dir, `readme-${i}.mts`), code);
      return `readme-${i}.mts`;
    });
    // Outside the package 'sendgroup' cannot resolve to itself: map it to the same declarations.
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      extends: path.join(__dirname, 'types', 'tsconfig.json'),
      compilerOptions: { paths: { sendgroup: [path.join(root, 'dist', 'index.d.ts')] }, typeRoots: [path.join(root, 'node_modules', '@types')] },
      files,
    }));
    tsc(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

#!/usr/bin/env node
// Writes dist/index.mjs: the ESM entry re-exports the CommonJS build, so
// `import` and `require` share one module instance (one shared Sender).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const names = Object.keys(require(path.join(dist, 'index.js'))).filter((name) => name !== '__esModule');
fs.writeFileSync(path.join(dist, 'index.mjs'),
  `import cjs from './index.js';\nexport const { ${names.join(', ')} } = cjs;\nexport default cjs;\n`);

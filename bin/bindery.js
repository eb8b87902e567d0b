#!/usr/bin/env node
// The compiled CLI (npm ci runs `prepare`, which compiles src/ to dist/).
import '../dist/cli/main.js';

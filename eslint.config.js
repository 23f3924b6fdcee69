// ESLint over homecrypt's TypeScript and its .mjs scripts: the recommended rules
// of ESLint and typescript-eslint, without type information (seconds, not
// minutes, and what it finds is real: docs/FORMATTER-AND-LINTER.md). `./run test`
// runs it (`npm run lint`) and fails on any finding, an unused disable comment too.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // test/fixtures: trees planted with wrong imports on purpose (architecture test)
    ignores: ['dist/', 'build/', 'node_modules', 'test-artifacts/', 'test/fixtures/', 'bench/results/', '.cache/'],
  },
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: { globals: globals.node },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // a parameter an interface requires but this implementation does not use is named _x
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
);

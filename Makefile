# make test: type check, compile, then every uvu suite; ends with "N passed, N failed".
.PHONY: build client test typecheck bench demo clean

build:
	npx tsc -p tsconfig.json

# dist/bindery-fetch.mjs: `fetch` alone in one file, for hosts without the compiler (docs/client.md).
client:
	node scripts/bundle-client.mjs

typecheck:
	npx tsc -p tsconfig.test.json

test: build typecheck
	node scripts/test.mjs

bench: build
	node --import tsx scripts/bench.ts

demo: build
	bash scripts/demo.sh

clean:
	rm -rf dist

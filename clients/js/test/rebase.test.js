// The shared rebase vectors (tests/fixtures/rebase-vectors.json), which the server's unit tests
// also run: the client's local rebase must agree with the server's on every one.
import { readFileSync } from "node:fs";
import { test } from "node:test";
import assert from "node:assert/strict";

import { RebaseConflict, rebasePatch } from "../src/index.js";

const vectors = JSON.parse(readFileSync(new URL("../../../tests/fixtures/rebase-vectors.json", import.meta.url), "utf8"));

test("the vectors are there", () => {
  assert.ok(vectors.cases.length >= 25);
});

for (const vector of vectors.cases) {
  test(vector.name, () => {
    if (vector.conflict) {
      assert.throws(
        () => rebasePatch(vector.patch, vector.since),
        (error) =>
          error instanceof RebaseConflict &&
          error.operation === vector.conflict.operation &&
          error.path === vector.conflict.path,
      );
    } else {
      assert.deepEqual(rebasePatch(vector.patch, vector.since), vector.rebased);
    }
  });
}

test("the input patch is left as it was", () => {
  const ours = [{ op: "replace", path: "/blocks/2/text", value: "x" }];
  rebasePatch(ours, [[{ op: "add", path: "/blocks/0", value: {} }]]);
  assert.deepEqual(ours, [{ op: "replace", path: "/blocks/2/text", value: "x" }]);
});

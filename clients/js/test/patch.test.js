// RFC 6902 application: every operation, atomicity, and inverses that bring the document back.
import { test } from "node:test";
import assert from "node:assert/strict";

import { PatchError, applyPatch } from "../src/patch.js";

const sample = () => ({
  title: "T",
  sequences: [{ id: "s", blocks: [{ id: "a" }, { id: "b" }, { id: "c" }] }],
});

/**
 * Applies, checks the result, then applies the inverse and checks the original is back.
 * @param {import("../src/types.js").Patch} patch
 * @param {unknown} expected
 */
function roundTrip(patch, expected) {
  const { document, inverse } = applyPatch(sample(), patch);
  assert.deepEqual(document, expected);
  assert.deepEqual(applyPatch(document, inverse).document, sample());
}

test("add inserts into arrays and objects, including appends", () => {
  const expected = sample();
  expected.sequences[0].blocks.splice(1, 0, { id: "x" });
  expected.sequences[0].blocks.push({ id: "y" });
  /** @type {any} */ (expected).is_archived = true;
  roundTrip(
    [
      { op: "add", path: "/sequences/0/blocks/1", value: { id: "x" } },
      { op: "add", path: "/sequences/0/blocks/-", value: { id: "y" } },
      { op: "add", path: "/is_archived", value: true },
    ],
    expected,
  );
});

test("remove, replace, move and copy", () => {
  const expected = sample();
  const [a] = expected.sequences[0].blocks.splice(0, 1);
  expected.sequences[0].blocks.push(a);
  expected.title = "U";
  expected.sequences[0].blocks.splice(0, 1);
  expected.sequences[0].blocks.push({ ...expected.sequences[0].blocks[0] });
  roundTrip(
    [
      { op: "move", from: "/sequences/0/blocks/0", path: "/sequences/0/blocks/-" },
      { op: "replace", path: "/title", value: "U" },
      { op: "remove", path: "/sequences/0/blocks/0" },
      { op: "copy", from: "/sequences/0/blocks/0", path: "/sequences/0/blocks/-" },
    ],
    expected,
  );
});

test("add on an existing member replaces it, and its inverse restores it", () => {
  const expected = sample();
  expected.title = "New";
  roundTrip([{ op: "add", path: "/title", value: "New" }], expected);
});

test("a failing operation leaves the document as it was", () => {
  const document = sample();
  assert.throws(
    () =>
      applyPatch(document, [
        { op: "remove", path: "/sequences/0/blocks/0" },
        { op: "replace", path: "/title", value: "changed" },
        { op: "test", path: "/sequences/0/blocks/0/id", value: "nope" },
      ]),
    (error) => error instanceof PatchError && error.operation === 2,
  );
  assert.deepEqual(document, sample());
  assert.throws(() => applyPatch(document, [{ op: "remove", path: "/sequences/0/blocks/9" }]), PatchError);
  assert.throws(() => applyPatch(document, [{ op: "add", path: "/missing/child", value: 1 }]), PatchError);
  assert.throws(() => applyPatch(document, [{ op: "move", from: "/sequences", path: "/sequences/0/x" }]), PatchError);
  // A move whose target does not exist leaves its source where it was.
  assert.throws(() => applyPatch(document, [{ op: "move", from: "/sequences/0/blocks/0", path: "/sequences/0/blocks/7" }]), PatchError);
  assert.deepEqual(document, sample());
});

test("values are copied in, not shared", () => {
  const value = { id: "x" };
  const { document } = applyPatch(sample(), [{ op: "add", path: "/sequences/0/blocks/0", value }]);
  value.id = "changed";
  assert.equal(/** @type {any} */ (document).sequences[0].blocks[0].id, "x");
});

// The polygon edits of the Edit tool as pure functions: insert on an edge, move the whole shape.
import assert from "node:assert/strict";
import { test } from "node:test";
import { deleteVertex, hitEdge, insertVertex, translatePolygons, vertexIndex, vertices } from "../../src/ui/editing.js";

const square = () => [{ outer: [[100, 100], [200, 100], [200, 200], [100, 200]], holes: [[[140, 140], [160, 140], [150, 160]]] }];

test("hitEdge finds the nearest edge and the nearest point on it, the closing edge included", () => {
  const e = hitEdge(square(), 150, 103, 5);
  assert.deepEqual([e.p, e.r, e.i, e.x, e.y], [0, 0, 0, 150, 100]);
  const closing = hitEdge(square(), 98, 150, 5); // from the last vertex back to the first
  assert.deepEqual([closing.r, closing.i, closing.x, closing.y], [0, 3, 100, 150]);
  const hole = hitEdge(square(), 150, 139, 3);
  assert.deepEqual([hole.r, hole.i], [1, 0]);
  assert.equal(hitEdge(square(), 150, 120, 5), null);
});

test("insertVertex puts the point between the edge's ends and says where it went", () => {
  const polys = square();
  const e = hitEdge(polys, 200, 150, 2);
  const { polygons, vertex } = insertVertex(polys, e, e.x, e.y);
  assert.deepEqual(polygons[0].outer, [[100, 100], [200, 100], [200, 150], [200, 200], [100, 200]]);
  assert.deepEqual(vertices(polygons)[vertexIndex(polygons, vertex)], { p: 0, r: 0, i: 2, x: 200, y: 150 });
  assert.equal(polys[0].outer.length, 4, "the input is not changed");
  // Inserting then deleting the same vertex gives the shape back.
  assert.deepEqual(deleteVertex(polygons, vertex), polys);
});

test("translatePolygons moves outer rings and holes alike, and stops at the image border", () => {
  const moved = translatePolygons(square(), 10, -20, 640, 480);
  assert.deepEqual(moved[0].outer[0], [110, 80]);
  assert.deepEqual(moved[0].holes[0][2], [160, 140]);
  const stopped = translatePolygons(square(), -500, 1000, 640, 480);
  assert.deepEqual(stopped[0].outer[0], [0, 380]);
  assert.deepEqual(stopped[0].outer[2], [100, 480]);
});

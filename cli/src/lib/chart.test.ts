import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { niceStep, renderLineChart } from "./chart.ts";

describe("line chart", () => {
  it("draws one path per series with its legend, and the reference rules", () => {
    const svg = renderLineChart({
      title: "latency <ms>",
      xLabel: "s",
      yLabel: "ms",
      series: [
        {
          name: "p50",
          points: [
            [0, 10],
            [1, 20],
            [2, 15],
          ],
        },
        {
          name: "p99",
          points: [
            [0, 40],
            [1, 90],
            [2, 60],
          ],
        },
      ],
      rules: [{ y: 150, label: "bar 150 ms" }],
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal((svg.match(/<path /g) ?? []).length, 2);
    assert.ok(svg.includes(">p50<") && svg.includes(">p99<") && svg.includes("bar 150 ms"));
    assert.ok(svg.includes("latency &lt;ms&gt;"), "text is escaped");
    assert.ok(svg.trimEnd().endsWith("</svg>"));
  });

  it("survives empty series and a flat line", () => {
    assert.ok(
      renderLineChart({ title: "t", xLabel: "x", yLabel: "y", series: [{ name: "none", points: [] }] }).includes(
        "</svg>",
      ),
    );
    assert.ok(
      renderLineChart({
        title: "t",
        xLabel: "x",
        yLabel: "y",
        series: [
          {
            name: "flat",
            points: [
              [0, 0],
              [1, 0],
            ],
          },
        ],
      }).includes("<path"),
    );
  });

  it("draws vertical markers inside the x range, with escaped labels, and skips those outside", () => {
    const svg = renderLineChart({
      title: "t",
      xLabel: "x",
      yLabel: "y",
      series: [
        {
          name: "s",
          points: [
            [0, 1],
            [10, 1],
          ],
        },
      ],
      markers: [
        { x: 5, label: "fault <injected>" },
        { x: 50, label: "outside" },
      ],
    });
    assert.ok(svg.includes("fault &lt;injected&gt;"));
    assert.ok(!svg.includes("outside"));
    assert.equal((svg.match(/stroke-dasharray="3 3"/g) ?? []).length, 1);
  });

  it("picks round tick steps", () => {
    assert.equal(niceStep(150, 6), 50);
    assert.equal(niceStep(10, 8), 2);
    assert.equal(niceStep(0.9, 6), 0.2);
  });
});

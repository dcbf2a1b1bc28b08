// Lag over time as a PNG: a Vega-Lite spec, compiled and rendered to SVG by Vega (no browser), then
// rasterised by resvg (a prebuilt native renderer shipped in the npm package).
import * as fs from "fs";

export interface LagSample {
    /** Seconds since the write load started. */
    t: number;
    /** e.g. "ours pg2". */
    series: string;
    bytes: number;
    seconds: number;
}

// vega and vega-lite are ES modules only; a CommonJS program (ts-node, module commonjs) must load them
// with a real dynamic import, which TypeScript would otherwise turn into require().
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- the one way to keep import() from becoming require()
const importEsm = new Function("specifier", "return import(specifier)") as <T>(specifier: string) => Promise<T>;

// The parts of vega-lite's and vega's APIs used here: their own typings resolve only under moduleResolution
// node16/bundler, which this CommonJS project does not use.
interface VegaLiteApi {
    compile(spec: Record<string, unknown>): { spec: unknown };
}
interface VegaApi {
    parse(spec: unknown): unknown;
    View: new (runtime: unknown, options: { renderer: "none" }) => { toSVG(): Promise<string> };
}

export function lagSpec(samples: LagSample[], title: string): Record<string, unknown> {
    // One row per measure, one column per cluster (same y scale across a row), one line per replica.
    const panel = (field: "kib" | "seconds", axisTitle: string) => ({
        facet: {
            column: {
                field: "cluster",
                type: "nominal",
                sort: ["ours", "bare"],
                title: null,
                header: { labelFontSize: 13, labelFontWeight: "bold" },
            },
        },
        spec: {
            width: 380,
            height: 150,
            mark: { type: "line", strokeWidth: 1.2, interpolate: "step-after" },
            encoding: {
                x: {
                    field: "t",
                    type: "quantitative",
                    title: "time since sampling started (s); pgbench starts ~1 s in",
                },
                y: { field, type: "quantitative", title: axisTitle },
                color: { field: "replica", type: "nominal", title: "replica" },
            },
        },
    });
    return {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title,
        background: "white",
        data: {
            values: samples.map((s) => {
                const [cluster, replica] = s.series.split(" ");
                return { t: s.t, series: s.series, cluster, replica, kib: s.bytes / 1024, seconds: s.seconds };
            }),
        },
        vconcat: [panel("kib", "replay lag (KiB of WAL)"), panel("seconds", "replay_lag (s)")],
        config: { font: "DejaVu Sans" },
    };
}

export async function writeLagPng(samples: LagSample[], title: string, file: string): Promise<number> {
    const vl = await importEsm<VegaLiteApi>("vega-lite");
    const vega = await importEsm<VegaApi>("vega");
    const { Resvg } = await import("@resvg/resvg-js");
    const compiled = vl.compile(lagSpec(samples, title)).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: "none" });
    const svg: string = await view.toSVG();
    const png = new Resvg(svg, {
        background: "white",
        font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
    })
        .render()
        .asPng();
    fs.writeFileSync(file, png);
    return png.length;
}

/**
 * The seed's bars as k6 thresholds: a breach fails the run (k6 exits 99, and `imctl loadtest run` names it).
 */
export function seedThresholds(maxP99Ms: number): Record<string, string[]> {
  return {
    im_delivery_latency: [`p(99)<${maxP99Ms}`],
    im_lost_messages: ["count==0"],
    checks: ["rate>0.999"],
    im_request_errors: ["count<=0"],
  };
}

/** For scenarios without delivery (connect storm, login burst): errors and checks only. */
export function connectionThresholds(): Record<string, string[]> {
  return { checks: ["rate>0.999"], http_req_failed: ["rate<0.001"] };
}

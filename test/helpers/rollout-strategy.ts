/**
 * The gateway rollout strategy the rollout tests run on both targets: 30 %, a pause while k6 connects, an analysis of
 * the canary's frame error rate and send p99 against the stable version, then 100 %. Short intervals keep the tests to
 * minutes; the thresholds leave room for a loaded 2-core machine.
 */
export const GATEWAY_ANALYSIS_INTERVAL_SECONDS = 5;
const WINDOW = "30s";
const interval = `${GATEWAY_ANALYSIS_INTERVAL_SECONDS}s`;

export const gatewayStrategy = {
  steps: [
    { setWeight: 30 },
    // k6 connects during the pause: new WebSockets spread over both tracks by the weight.
    // Traffic shows in the 30 s rate windows about 25 s after k6 starts (its set-up, two scrapes).
    { pause: { duration: "25s" } },
    {
      analysis: {
        metrics: [
          {
            name: "error-rate",
            interval,
            count: 3,
            consecutiveErrorLimit: 6,
            successCondition: "result <= 0.05",
            // No failed frame at all is an empty sum: "or vector(0)" makes it 0 (no traffic stays no data).
            provider: {
              prometheus: {
                query:
                  `(sum(rate(im_gateway_frames_total{service="gateway",version="{{version}}",result!="ok"}[${WINDOW}])) or vector(0))` +
                  ` / sum(rate(im_gateway_frames_total{service="gateway",version="{{version}}"}[${WINDOW}]))`,
              },
            },
          },
          {
            name: "send-p99",
            interval,
            count: 3,
            consecutiveErrorLimit: 6,
            successCondition: "result <= stable * 3 + 0.25",
            provider: {
              prometheus: {
                query:
                  "histogram_quantile(0.99, sum by (le) " +
                  `(rate(im_gateway_frame_duration_seconds_bucket{service="gateway",version="{{version}}",type="send"}[${WINDOW}])))`,
              },
            },
          },
        ],
      },
    },
    { setWeight: 100 },
  ],
};

import { scenarioBenchmark } from "./lib/k6-scenario.ts";

export default scenarioBenchmark({
  name: "loadtest-messaging",
  offset: 9500,
  args: ["messaging", "--vus", "100", "--rate", "100", "--duration", "30s"],
  description:
    "`imctl loadtest run messaging --vus 100 --rate 100 --duration 30s`: k6 with 100 users in pairs, 100" +
    " messages per second in total (at 200 the platform and k6 together saturate these 2 cores), on the" +
    " local target. Value: p99 delivery latency (send to the receiver holding the message). The seed's" +
    " bar is 150 ms. No baseline (the `latency` benchmark compares with a bare ws relay).",
});

import { scenarioBenchmark } from "./lib/k6-scenario.ts";

export default scenarioBenchmark({
  name: "loadtest-messaging",
  offset: 9500,
  args: ["messaging", "--vus", "200", "--rate", "200", "--duration", "30s"],
  description:
    "`imctl loadtest run messaging --vus 200 --rate 200 --duration 30s`: k6 with 200 users in pairs, 200 messages per second in total, on the local target. Value: p99 delivery latency (send to the receiver holding the message). The seed's bar is 150 ms. No baseline (the `latency` benchmark compares with a bare ws relay).",
});

import { scenarioBenchmark } from "./lib/k6-scenario.ts";

export default scenarioBenchmark({
  name: "loadtest-fanout",
  offset: 9700,
  args: ["group-fanout", "-e", "SIZE=large", "--vus", "50", "--rate", "2", "--duration", "30s"],
  description:
    "`imctl loadtest run group-fanout -e SIZE=large --vus 50 --rate 2 --duration 30s`: one sender to a" +
    " 600-member group (read diffusion, past the 500 threshold), 50 members online, 2 messages per" +
    " second. Value: p99 delivery latency to the online members. No baseline.",
});

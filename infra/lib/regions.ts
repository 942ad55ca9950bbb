/**
 * The regions a stack may name, per cloud. A region is listed when it has at least three zones and offers every
 * managed service the platform can choose: on AWS, EKS, MSK and ElastiCache; on Alibaba Cloud, ACK, ApsaraMQ for
 * Kafka, Tair (Redis) and VPN Gateway. Sources: the AWS "Regions and Availability Zones" page and the regional
 * product tables of each service; Alibaba Cloud's "Regions and zones" page and each product's "supported regions".
 * Adding a region is a one-line change here after checking those pages; the spec names this list in its errors.
 */

export type CloudName = "aws" | "alicloud";

export const REGIONS: Readonly<Record<CloudName, readonly string[]>> = {
  aws: ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1"],
  alicloud: ["cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen", "cn-zhangjiakou", "ap-southeast-1"],
};

/**
 * Zone names as each cloud writes them: AWS appends a letter to the region (us-east-1a); Alibaba Cloud appends
 * "-<letter>" in mainland China (cn-hangzhou-h) and a bare letter elsewhere (ap-southeast-1a).
 */
export function zoneBelongsTo(cloud: CloudName, region: string, zone: string): boolean {
  const letter = zone.slice(region.length);
  if (!zone.startsWith(region)) return false;
  if (cloud === "aws") return /^[a-z]$/.test(letter);
  return region.startsWith("cn-") ? /^-[a-z]$/.test(letter) : /^[a-z]$/.test(letter);
}

/** An example zone name for an error message ("us-east-1a", "cn-hangzhou-h"). */
export function exampleZone(cloud: CloudName, region: string): string {
  return cloud === "alicloud" && region.startsWith("cn-") ? `${region}-h` : `${region}a`;
}

import { Counter, Trend } from "k6/metrics";

/** Sender's send() to the receiver having the message (notification, then pull), ms. */
export const deliveryLatency = new Trend("im_delivery_latency", true);
/** Sender's send() to the platform's acknowledgement (stored durably and on Kafka), ms. */
export const ackLatency = new Trend("im_ack_latency", true);
/**
 * Messages acknowledged to their sender and never delivered to the receiver: a loss. Must stay 0. A send that was
 * never acknowledged is not one (its sender knows it failed): that is im_unacknowledged_sends.
 */
export const lostMessages = new Counter("im_lost_messages");
/** Sends their sender gave up on without an acknowledgement (refused or timed out after every retry): not a loss. */
export const unacknowledgedSends = new Counter("im_unacknowledged_sends");
export const sentMessages = new Counter("im_sent_messages");
export const receivedMessages = new Counter("im_received_messages");
/** Connections re-opened after a close the VU did not ask for. */
export const reconnects = new Counter("im_reconnects");
/** Requests answered with an error frame or never answered. */
export const requestErrors = new Counter("im_request_errors");
/** A message shown twice to one member (the same sender's load message n): must stay 0. */
export const duplicateMessages = new Counter("im_duplicate_messages");
/** A group message shown after one with a larger groupSeq, at one member: must stay 0. */
export const outOfOrderMessages = new Counter("im_out_of_order_messages");
/** Members added to a group by a scenario's join stages. */
export const joinedMembers = new Counter("im_group_members_joined");

import { Counter, Trend } from "k6/metrics";

/** Sender's send() to the receiver having the message (notification, then pull), ms. */
export const deliveryLatency = new Trend("im_delivery_latency", true);
/** Sender's send() to the platform's acknowledgement (stored durably and on Kafka), ms. */
export const ackLatency = new Trend("im_ack_latency", true);
/** Messages a receiver was owed (the partner's acknowledged sends) and never got. Must stay 0. */
export const lostMessages = new Counter("im_lost_messages");
export const sentMessages = new Counter("im_sent_messages");
export const receivedMessages = new Counter("im_received_messages");
/** Connections re-opened after a close the VU did not ask for. */
export const reconnects = new Counter("im_reconnects");
/** Requests answered with an error frame or never answered. */
export const requestErrors = new Counter("im_request_errors");

/** Entry of /review/: the approval queue. */

import "../styles/base.css";
import "../styles/review.css";
import { mountReviewQueue, type QueueContext } from "../review/queue";
import { byId, pageContext } from "../ui/dom";

mountReviewQueue(byId("review-app"), pageContext<QueueContext>("page-context")).catch((error) =>
  console.error("review queue failed to load", error),
);

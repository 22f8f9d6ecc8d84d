-- Work the rules of docs/domain.md 3.6 and 10.1 (C1, C2) give requests recorded before them: an
-- unsigned request now ends as abandoned once its time to sign is spent, and a refused one gets its
-- signed refusal document. Both are the workflow's to do, and the workflow drives only requests
-- that have a task; an unsigned request of a service without a promised deadline, or a refused
-- one, had none. Every request that has not ended with a document or as abandoned gets a task due
-- now (one that has a task keeps it); driving a request that needs nothing yet only sets its next
-- timer.
INSERT INTO workflow.tasks (stream_id, due_at)
SELECT s.stream_id, now()
  FROM public.events s
 WHERE s.event_type = 'RequestSubmitted'
   AND NOT EXISTS (SELECT 1 FROM public.events e
                    WHERE e.stream_id = s.stream_id
                      AND e.event_type IN ('ResultIssued', 'RefusalIssued', 'RequestAbandoned'))
ON CONFLICT (stream_id) DO NOTHING;

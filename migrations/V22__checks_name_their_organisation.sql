-- A social-status check filed as a request is the records of the medical organisation it was
-- filed through (docs/domain.md 8): the status view keeps that organisation, so that its filer
-- sees the check only through a sign-in of the same organisation. Rows of checks recorded before
-- stay without one, and no medical organisation's sign-in shows them.
ALTER TABLE projections.request_status ADD COLUMN organisation text;

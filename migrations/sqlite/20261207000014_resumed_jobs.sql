-- An interrupted deploy or rollback someone resumed: the new job that
-- finishes its work (and takes over its hosts' deploy locks) names it, and
-- it names that job. A job is resumed at most once.
ALTER TABLE jobs ADD COLUMN resumes_job_id INTEGER REFERENCES jobs(id);
ALTER TABLE jobs ADD COLUMN resumed_by_job_id INTEGER REFERENCES jobs(id);
CREATE UNIQUE INDEX jobs_resumes_once ON jobs (resumes_job_id) WHERE resumes_job_id IS NOT NULL;

//! The functions that run with the owner's rights (`SECURITY DEFINER`: `append_events`,
//! `append_batch`, `allocate_request_number`) cannot be made to run a caller's code, and the
//! service's runtime login has no rights of its own to fall back on (migrations/V12).

use domain::StreamVersion;
use event_store::db::APP_ROLE;

use crate::support::{events, metadata, new_stream, store};

/// Functions and an operator the application's role may create in a schema it owns, each a better
/// match for the definer functions' argument types than pg_catalog's polymorphic built-ins. Each
/// notes who ran it in the session setting `egov.hijacked`.
const HIJACKS: &str = r#"
CREATE FUNCTION projections.note() RETURNS void LANGUAGE sql
    AS $$ SELECT pg_catalog.set_config('egov.hijacked', current_user, false) $$;
CREATE FUNCTION projections.unnest(a uuid[]) RETURNS SETOF uuid LANGUAGE plpgsql
    AS $$ BEGIN PERFORM projections.note(); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION projections.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql
    AS $$ BEGIN PERFORM projections.note(); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION projections.unnest(a integer[]) RETURNS SETOF integer LANGUAGE plpgsql
    AS $$ BEGIN PERFORM projections.note(); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION projections.unnest(a jsonb[]) RETURNS SETOF jsonb LANGUAGE plpgsql
    AS $$ BEGIN PERFORM projections.note(); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION projections.unnest(a bytea[]) RETURNS SETOF bytea LANGUAGE plpgsql
    AS $$ BEGIN PERFORM projections.note(); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION projections.unnest(a bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql
    AS $$ BEGIN PERFORM projections.note(); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION projections.lpad(t text, n integer, f text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN PERFORM projections.note(); RETURN pg_catalog.lpad(t, n, f); END $$;
CREATE FUNCTION projections.uuid_eq(a uuid, b uuid) RETURNS boolean LANGUAGE plpgsql
    AS $$ BEGIN PERFORM projections.note(); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR projections.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = projections.uuid_eq);
"#;

/// Who the hijacks last ran as (the session setting they note it in), if any ran.
async fn hijacked_as(client: &tokio_postgres::Client) -> Option<String> {
    client
        .query_one("SELECT current_setting('egov.hijacked', true)", &[])
        .await
        .expect("setting")
        .get(0)
}

#[tokio::test]
async fn a_callers_search_path_cannot_slip_its_own_functions_into_the_definer_functions() {
    let (db, store) = store().await;
    // Rows for the functions' lookups to compare against (an operator is not called on none).
    let stream = new_stream();
    store
        .append(stream, StreamVersion::EMPTY, &events(1), &metadata())
        .await
        .expect("append");
    let client = db.runtime_login().await;
    client
        .batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .expect("become the app role");
    client
        .batch_execute(HIJACKS)
        .await
        .expect("the app role owns projections");
    client
        .batch_execute("SET search_path = projections, pg_catalog, public")
        .await
        .expect("a search path of the caller's choosing");
    // The hijacks work for the caller's own statements, so they would for an unpinned function.
    client
        .batch_execute("SELECT count(*) FROM unnest('{1,2}'::bigint[])")
        .await
        .expect("own call");
    assert_eq!(
        hijacked_as(&client).await.as_deref(),
        Some(APP_ROLE),
        "the hijack is live"
    );
    client
        .batch_execute("SELECT set_config('egov.hijacked', '', false)")
        .await
        .expect("reset");

    let ids = vec![uuid::Uuid::new_v4()];
    let appended = client
        .query(
            "SELECT * FROM public.append_events($1, 1, $2, ARRAY['Tested'], ARRAY[1], \
             ARRAY['{}'::jsonb], ARRAY['\\x01'::bytea], 'system:test', 'system', \
             gen_random_uuid(), NULL, now())",
            &[&stream.as_uuid(), &ids],
        )
        .await
        .expect("append_events");
    assert_eq!(appended.len(), 1);
    let batched = client
        .query(
            "SELECT * FROM public.append_batch(ARRAY[1], ARRAY[$1::uuid], ARRAY[2::bigint], \
             ARRAY['system:test'], ARRAY['system'], ARRAY[gen_random_uuid()], ARRAY[NULL::uuid], \
             ARRAY[now()], ARRAY[gen_random_uuid()], ARRAY['Tested'], ARRAY[1], \
             ARRAY['{}'::jsonb], ARRAY['\\x02'::bytea])",
            &[&stream.as_uuid()],
        )
        .await
        .expect("append_batch");
    let accepted: Vec<bool> = batched[0].get("out_accepted");
    assert_eq!(accepted, [true]);
    client
        .query(
            "SELECT public.allocate_request_number(gen_random_uuid(), current_date, 'citizen:1', 10)",
            &[],
        )
        .await
        .expect("allocate_request_number");

    assert_eq!(
        hijacked_as(&client).await.as_deref(),
        Some(""),
        "a caller's function ran inside a definer function"
    );
}

#[tokio::test]
async fn the_runtime_login_has_no_rights_of_its_own_even_after_reset_role() {
    let (db, store) = store().await;
    store
        .append(new_stream(), StreamVersion::EMPTY, &events(1), &metadata())
        .await
        .expect("append");
    let client = db.runtime_login().await;
    client
        .batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .expect("may become the app role");
    client
        .batch_execute("SELECT count(*) FROM events")
        .await
        .expect("the app role reads the log");
    client.batch_execute("RESET ROLE").await.expect("reset");
    for attempt in [
        "SELECT count(*) FROM events",
        "SELECT count(*) FROM projections.checkpoints",
        "CREATE TABLE projections.mine (id int)",
        "CREATE TABLE public.mine (id int)",
        "SELECT public.allocate_request_number(gen_random_uuid(), current_date, 'citizen:1', 10)",
        "CREATE ROLE egov_escalated SUPERUSER",
    ] {
        let error = client.batch_execute(attempt).await.expect_err(attempt);
        assert_eq!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{attempt}: {error}"
        );
    }
    let rights = event_store::Database::connect(
        event_store::DbSettings::from_url(&db.service_env().await[0].1).expect("url"),
    )
    .expect("pool")
    .login_rights()
    .await
    .expect("rights");
    assert!(!rights.beyond_runtime(), "{rights:?}");
    let owner = db.database().login_rights().await.expect("rights");
    assert!(owner.beyond_runtime(), "the test's owner login: {owner:?}");
}

// Written by hand to match both migration trees (migrations/sqlite and migrations/postgres).

diesel::table! {
    surveys (slug) {
        slug -> Text,
        current_version -> Integer,
        status -> Text,
        testing -> Bool,
    }
}

diesel::table! {
    survey_versions (slug, version) {
        slug -> Text,
        version -> Integer,
        definition -> Text,
    }
}

diesel::table! {
    report_keys (id) {
        id -> Text,
        public_key -> Binary,
        sealed_private_key -> Binary,
        kdf -> Text,
        created_month -> Text,
        ordinal -> Integer,
        active -> Bool,
    }
}

diesel::table! {
    epochs (id) {
        id -> Text,
        report_key_id -> Text,
        wrapped_key -> Binary,
        month -> Text,
    }
}

diesel::table! {
    responses (survey_slug, id) {
        id -> Text,
        survey_slug -> Text,
        survey_version -> Integer,
        month -> Text,
        epoch_id -> Text,
        sealed -> Binary,
        receipt_hash -> Nullable<Binary>,
        synthetic -> Bool,
        verified -> Bool,
    }
}

diesel::table! {
    form_keys (id) {
        id -> Text,
        key_bytes -> Binary,
        generation -> BigInt,
    }
}

diesel::table! {
    used_form_tokens (token_hash) {
        token_hash -> Binary,
        form_key_id -> Text,
    }
}

diesel::joinable!(epochs -> report_keys (report_key_id));
diesel::joinable!(responses -> epochs (epoch_id));
diesel::allow_tables_to_appear_in_same_query!(
    surveys,
    survey_versions,
    report_keys,
    epochs,
    responses,
    form_keys,
    used_form_tokens
);

diesel::table! {
    staff_users (id) {
        id -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        disabled -> Bool,
        failed_logins -> Integer,
        locked_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    staff_sessions (token_hash) {
        token_hash -> Binary,
        user_id -> Text,
        created_at -> BigInt,
        last_seen -> BigInt,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        target -> Text,
    }
}

diesel::joinable!(staff_sessions -> staff_users (user_id));
diesel::allow_tables_to_appear_in_same_query!(staff_users, staff_sessions, audit_log, snapshots, privacy_budgets);

diesel::table! {
    snapshots (id) {
        id -> Text,
        survey_slug -> Text,
        survey_version -> Integer,
        through_month -> Text,
        spec -> Text,
        n -> BigInt,
        verified_n -> BigInt,
        synthetic -> Bool,
        created -> Text,
        created_at -> BigInt,
        created_by -> Text,
        tables -> Text,
        status -> Text,
        published -> Nullable<Text>,
        retracted -> Nullable<Text>,
        rho_micro -> BigInt,
        fingerprint -> Binary,
        doc_json -> Text,
        doc_csv -> Text,
        json_sha256 -> Text,
        csv_sha256 -> Text,
        sig_json -> Text,
        sig_csv -> Text,
        signing_key_id -> Text,
        retract_reason -> Nullable<Text>,
        replaced_by -> Nullable<Text>,
        headlines -> Text,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> Text,
        public_key -> Text,
        report_key_id -> Text,
        wrapped_key -> Binary,
        valid_from -> Text,
        valid_until -> Nullable<Text>,
        active -> Bool,
    }
}

diesel::table! {
    privacy_budgets (survey_slug) {
        survey_slug -> Text,
        total_micro -> BigInt,
        spent_micro -> BigInt,
    }
}

diesel::table! {
    outreach_codes (code_hash) {
        code_hash -> Binary,
        survey_slug -> Text,
        batch -> Text,
        used -> Bool,
    }
}

diesel::table! {
    monthly_intake (survey_slug, month) {
        survey_slug -> Text,
        month -> Text,
        accepted -> BigInt,
        rate_limited -> BigInt,
        honeypot -> BigInt,
        too_fast -> BigInt,
        bad_code -> BigInt,
    }
}

diesel::table! {
    quarantined_months (survey_slug, month) {
        survey_slug -> Text,
        month -> Text,
    }
}

diesel::table! {
    stewards (id) {
        id -> Text,
        name -> Text,
        share_index -> Integer,
        threshold -> Integer,
        generation -> Text,
        public_key -> Binary,
        sealed_private_key -> Binary,
        kdf -> Text,
        wrapped_share -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    retention (survey_slug) {
        survey_slug -> Text,
        days -> Integer,
        closed_on -> Nullable<Text>,
        destroyed_on -> Nullable<Text>,
        destroyed_count -> BigInt,
    }
}

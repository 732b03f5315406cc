DROP TABLE used_form_tokens; DROP TABLE form_keys;

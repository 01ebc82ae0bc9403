"""AWS shape in -> service call -> AWS shape out, one small function per operation.

Handlers get the request already parsed against the botocore model (blobs as bytes) and return
the response under the model's member names; api/model.py serialises it. No business rule lives
here: every decision is the service's.
"""

from grants import kms_grants
from keys import imports, operations, rotation, services
from keys.crypto import specs
from keys.models import PENDING_DELETION, Key

HANDLERS = {}


def handler(name: str):
    def register(function):
        HANDLERS[name] = function
        return function
    return register


def key_metadata(key: Key) -> dict:
    """KeyMetadata (kms-spec.md 2.11): optional members only where AWS sends them."""
    metadata = {
        "AWSAccountId": key.account_id,
        "KeyId": str(key.id),
        "Arn": key.arn,
        "CreationDate": key.created_at,
        "Enabled": key.enabled,
        "Description": key.description,
        "KeyUsage": key.key_usage,
        "KeyState": key.key_state,
        "Origin": key.origin,
        "KeyManager": key.key_manager,
        "CustomerMasterKeySpec": key.key_spec,
        "KeySpec": key.key_spec,
        "MultiRegion": False,
    }
    if key.key_state == PENDING_DELETION:
        metadata["DeletionDate"] = key.deletion_date
        metadata["PendingDeletionWindowInDays"] = key.pending_window_days
    algorithm_lists = {
        "EncryptionAlgorithms": specs.encryption_algorithms(key.key_spec, key.key_usage),
        "SigningAlgorithms": specs.signing_algorithms(key.key_spec, key.key_usage),
        "MacAlgorithms": specs.mac_algorithms(key.key_spec, key.key_usage),
    }
    metadata.update({name: value for name, value in algorithm_lists.items() if value})
    if key.key_spec == "SYMMETRIC_DEFAULT" and key.current_version:
        metadata["CurrentKeyMaterialId"] = key.current_material_id()
    if key.origin == "EXTERNAL":
        metadata.update(imports.expiration_metadata(key))
    return metadata


def _page(rows, next_marker, member: str, entry) -> dict:
    response = {member: [entry(row) for row in rows], "Truncated": next_marker is not None}
    if next_marker is not None:
        response["NextMarker"] = next_marker
    return response


# --- key lifecycle --------------------------------------------------------------------------

@handler("CreateKey")
def create_key(caller, p):
    key = services.key_create(
        caller=caller, description=p.get("Description", ""),
        key_spec=p.get("KeySpec", "SYMMETRIC_DEFAULT"), key_usage=p.get("KeyUsage"),
        origin=p.get("Origin", "AWS_KMS"), policy=p.get("Policy"),
        tags=[(t["TagKey"], t["TagValue"]) for t in p.get("Tags", [])],
        multi_region=p.get("MultiRegion", False),
        bypass_policy_lockout_safety_check=p.get("BypassPolicyLockoutSafetyCheck", False),
        customer_master_key_spec=p.get("CustomerMasterKeySpec"),
        custom_key_store_id=p.get("CustomKeyStoreId"))
    return {"KeyMetadata": key_metadata(key)}


@handler("DescribeKey")
def describe_key(caller, p):
    key = services.key_describe(caller=caller, key_id=p["KeyId"],
                                grant_tokens=p.get("GrantTokens"))
    return {"KeyMetadata": key_metadata(key)}


@handler("ListKeys")
def list_keys(caller, p):
    keys, marker = services.key_list(caller=caller, limit=p.get("Limit", 100),
                                     marker=p.get("Marker"))
    return _page(keys, marker, "Keys", lambda k: {"KeyId": str(k.id), "KeyArn": k.arn})


@handler("EnableKey")
def enable_key(caller, p):
    services.key_enable(caller=caller, key_id=p["KeyId"])


@handler("DisableKey")
def disable_key(caller, p):
    services.key_disable(caller=caller, key_id=p["KeyId"])


@handler("ScheduleKeyDeletion")
def schedule_key_deletion(caller, p):
    key = services.key_schedule_deletion(caller=caller, key_id=p["KeyId"],
                                         pending_window_days=p.get("PendingWindowInDays"))
    return {"KeyId": key.arn, "DeletionDate": key.deletion_date, "KeyState": key.key_state,
            "PendingWindowInDays": key.pending_window_days}


@handler("CancelKeyDeletion")
def cancel_key_deletion(caller, p):
    key = services.key_cancel_deletion(caller=caller, key_id=p["KeyId"])
    return {"KeyId": key.arn}


@handler("UpdateKeyDescription")
def update_key_description(caller, p):
    services.key_update_description(caller=caller, key_id=p["KeyId"],
                                    description=p["Description"])


@handler("GetKeyLastUsage")
def get_key_last_usage(caller, p):
    key, usage = services.key_last_usage(caller=caller, key_id=p["KeyId"])
    last = {}
    if usage is not None:
        last = {"Operation": usage.event_name, "Timestamp": usage.event_time,
                "CloudTrailEventId": str(usage.event_id), "KmsRequestId": usage.request_id}
    return {"KeyId": key.arn, "KeyLastUsage": last, "TrackingStartDate": key.created_at,
            "KeyCreationDate": key.created_at}


# --- key policies ---------------------------------------------------------------------------

@handler("GetKeyPolicy")
def get_key_policy(caller, p):
    name = p.get("PolicyName", services.POLICY_NAME)
    policy = services.key_get_policy(caller=caller, key_id=p["KeyId"], policy_name=name)
    return {"Policy": policy, "PolicyName": name}


@handler("PutKeyPolicy")
def put_key_policy(caller, p):
    services.key_put_policy(
        caller=caller, key_id=p["KeyId"], policy=p["Policy"],
        policy_name=p.get("PolicyName", services.POLICY_NAME),
        bypass_policy_lockout_safety_check=p.get("BypassPolicyLockoutSafetyCheck", False))
    return None


@handler("ListKeyPolicies")
def list_key_policies(caller, p):
    names, next_marker = services.key_list_policies(
        caller=caller, key_id=p["KeyId"], limit=p.get("Limit", 100), marker=p.get("Marker"))
    return _page(names, next_marker, "PolicyNames", lambda name: name)


# --- aliases and tags -----------------------------------------------------------------------

@handler("CreateAlias")
def create_alias(caller, p):
    services.alias_create(caller=caller, alias_name=p["AliasName"],
                          target_key_id=p["TargetKeyId"])


@handler("UpdateAlias")
def update_alias(caller, p):
    services.alias_update(caller=caller, alias_name=p["AliasName"],
                          target_key_id=p["TargetKeyId"])


@handler("DeleteAlias")
def delete_alias(caller, p):
    services.alias_delete(caller=caller, alias_name=p["AliasName"])


@handler("ListAliases")
def list_aliases(caller, p):
    aliases, marker = services.alias_list(caller=caller, key_id=p.get("KeyId"),
                                          limit=p.get("Limit", 50), marker=p.get("Marker"))

    def entry(alias):
        item = {"AliasName": alias.name, "AliasArn": alias.arn,
                "CreationDate": alias.created_at, "LastUpdatedDate": alias.updated_at}
        if alias.target_key_id is not None:
            item["TargetKeyId"] = str(alias.target_key_id)
        return item

    return _page(aliases, marker, "Aliases", entry)


@handler("TagResource")
def tag_resource(caller, p):
    services.key_tag(caller=caller, key_id=p["KeyId"],
                     tags=[(t["TagKey"], t["TagValue"]) for t in p["Tags"]])


@handler("UntagResource")
def untag_resource(caller, p):
    services.key_untag(caller=caller, key_id=p["KeyId"], tag_keys=p["TagKeys"])


@handler("ListResourceTags")
def list_resource_tags(caller, p):
    tags, marker = services.key_list_tags(caller=caller, key_id=p["KeyId"],
                                          limit=p.get("Limit", 50), marker=p.get("Marker"))
    return _page(tags, marker, "Tags", lambda t: {"TagKey": t.tag_key, "TagValue": t.tag_value})


# --- cryptographic operations ---------------------------------------------------------------

def _common(p) -> dict:
    return {"grant_tokens": p.get("GrantTokens"), "dry_run": p.get("DryRun", False)}


@handler("Encrypt")
def encrypt(caller, p):
    result = operations.encrypt(
        caller=caller, key_id=p["KeyId"], plaintext=p["Plaintext"],
        encryption_context=p.get("EncryptionContext"),
        encryption_algorithm=p.get("EncryptionAlgorithm"), **_common(p))
    return {"CiphertextBlob": result.blob, "KeyId": result.key.arn,
            "EncryptionAlgorithm": result.algorithm}


@handler("Decrypt")
def decrypt(caller, p):
    result = operations.decrypt(
        caller=caller, ciphertext_blob=p.get("CiphertextBlob"),
        encryption_context=p.get("EncryptionContext"), key_id=p.get("KeyId"),
        encryption_algorithm=p.get("EncryptionAlgorithm"),
        dry_run_modifiers=p.get("DryRunModifiers"), **_common(p))
    return {"KeyId": result.key.arn, "Plaintext": result.plaintext,
            "EncryptionAlgorithm": result.algorithm, "KeyMaterialId": result.material_id}


@handler("ReEncrypt")
def re_encrypt(caller, p):
    source, result = operations.re_encrypt(
        caller=caller, ciphertext_blob=p.get("CiphertextBlob"),
        destination_key_id=p["DestinationKeyId"],
        source_encryption_context=p.get("SourceEncryptionContext"),
        source_key_id=p.get("SourceKeyId"),
        destination_encryption_context=p.get("DestinationEncryptionContext"),
        source_encryption_algorithm=p.get("SourceEncryptionAlgorithm"),
        destination_encryption_algorithm=p.get("DestinationEncryptionAlgorithm"),
        dry_run_modifiers=p.get("DryRunModifiers"), **_common(p))
    return {"CiphertextBlob": result.blob, "SourceKeyId": source.key.arn,
            "KeyId": result.key.arn, "SourceEncryptionAlgorithm": source.algorithm,
            "DestinationEncryptionAlgorithm": result.algorithm,
            "SourceKeyMaterialId": source.material_id,
            "DestinationKeyMaterialId": result.material_id}


def _data_key(caller, p, with_plaintext: bool) -> dict:
    result = operations.generate_data_key(
        caller=caller, key_id=p["KeyId"], encryption_context=p.get("EncryptionContext"),
        number_of_bytes=p.get("NumberOfBytes"), key_spec=p.get("KeySpec"),
        with_plaintext=with_plaintext, **_common(p))
    return {"CiphertextBlob": result.ciphertext, "Plaintext": result.plaintext,
            "KeyId": result.key.arn, "KeyMaterialId": result.material_id}


@handler("GenerateDataKey")
def generate_data_key(caller, p):
    return _data_key(caller, p, with_plaintext=True)


@handler("GenerateDataKeyWithoutPlaintext")
def generate_data_key_without_plaintext(caller, p):
    return _data_key(caller, p, with_plaintext=False)


def _data_key_pair(caller, p, with_plaintext: bool) -> dict:
    result = operations.generate_data_key_pair(
        caller=caller, key_id=p["KeyId"], key_pair_spec=p["KeyPairSpec"],
        encryption_context=p.get("EncryptionContext"), with_plaintext=with_plaintext,
        **_common(p))
    return {"PrivateKeyCiphertextBlob": result.private_ciphertext,
            "PrivateKeyPlaintext": result.private_plaintext, "PublicKey": result.public_key,
            "KeyId": result.key.arn, "KeyPairSpec": result.key_pair_spec,
            "KeyMaterialId": result.material_id}


@handler("GenerateDataKeyPair")
def generate_data_key_pair(caller, p):
    return _data_key_pair(caller, p, with_plaintext=True)


@handler("GenerateDataKeyPairWithoutPlaintext")
def generate_data_key_pair_without_plaintext(caller, p):
    return _data_key_pair(caller, p, with_plaintext=False)


@handler("GenerateRandom")
def generate_random(caller, p):
    return {"Plaintext": operations.generate_random(
        caller=caller, number_of_bytes=p.get("NumberOfBytes"),
        custom_key_store_id=p.get("CustomKeyStoreId"))}


@handler("Sign")
def sign(caller, p):
    result = operations.sign(caller=caller, key_id=p["KeyId"], message=p["Message"],
                             signing_algorithm=p["SigningAlgorithm"],
                             message_type=p.get("MessageType", "RAW"), **_common(p))
    return {"KeyId": result.key.arn, "Signature": result.signature,
            "SigningAlgorithm": result.algorithm}


@handler("Verify")
def verify(caller, p):
    result = operations.verify(caller=caller, key_id=p["KeyId"], message=p["Message"],
                               signature=p["Signature"],
                               signing_algorithm=p["SigningAlgorithm"],
                               message_type=p.get("MessageType", "RAW"), **_common(p))
    return {"KeyId": result.key.arn, "SignatureValid": True,
            "SigningAlgorithm": result.algorithm}


@handler("GenerateMac")
def generate_mac(caller, p):
    result = operations.generate_mac(caller=caller, key_id=p["KeyId"], message=p["Message"],
                                     mac_algorithm=p["MacAlgorithm"], **_common(p))
    return {"Mac": result.mac, "MacAlgorithm": result.algorithm, "KeyId": result.key.arn}


@handler("VerifyMac")
def verify_mac(caller, p):
    result = operations.verify_mac(caller=caller, key_id=p["KeyId"], message=p["Message"],
                                   mac_value=p["Mac"], mac_algorithm=p["MacAlgorithm"],
                                   **_common(p))
    return {"KeyId": result.key.arn, "MacValid": True, "MacAlgorithm": result.algorithm}


@handler("GetPublicKey")
def get_public_key(caller, p):
    key, public_key = operations.get_public_key(caller=caller, key_id=p["KeyId"],
                                                grant_tokens=p.get("GrantTokens"))
    response = {"KeyId": key.arn, "PublicKey": public_key, "CustomerMasterKeySpec": key.key_spec,
                "KeySpec": key.key_spec, "KeyUsage": key.key_usage}
    if key.key_usage == "ENCRYPT_DECRYPT":
        response["EncryptionAlgorithms"] = specs.encryption_algorithms(key.key_spec,
                                                                       key.key_usage)
    if key.key_usage == "SIGN_VERIFY":
        response["SigningAlgorithms"] = specs.signing_algorithms(key.key_spec, key.key_usage)
    return response


# --- grants ---------------------------------------------------------------------------------

def grant_entry(grant) -> dict:
    """GrantListEntry (kms-spec.md 6); Name, RetiringPrincipal and Constraints only if set."""
    return {"KeyId": grant.key.arn, "GrantId": grant.grant_id, "Name": grant.name,
            "CreationDate": grant.created_at, "GranteePrincipal": grant.grantee_principal,
            "RetiringPrincipal": grant.retiring_principal,
            "IssuingAccount": grant.issuing_account, "Operations": list(grant.operations),
            "Constraints": grant.constraints}


@handler("CreateGrant")
def create_grant(caller, p):
    grant, token = kms_grants.grant_create(
        caller=caller, key_id=p["KeyId"], grantee_principal=p.get("GranteePrincipal"),
        operations=p["Operations"], retiring_principal=p.get("RetiringPrincipal"),
        constraints=p.get("Constraints"), grant_tokens=p.get("GrantTokens"),
        name=p.get("Name"), dry_run=p.get("DryRun", False),
        grantee_service_principal=p.get("GranteeServicePrincipal"),
        retiring_service_principal=p.get("RetiringServicePrincipal"))
    return {"GrantToken": token, "GrantId": grant.grant_id}


@handler("ListGrants")
def list_grants(caller, p):
    grants, marker = kms_grants.grant_list(
        caller=caller, key_id=p["KeyId"], grant_id=p.get("GrantId"),
        grantee_principal=p.get("GranteePrincipal"), limit=p.get("Limit", 50),
        marker=p.get("Marker"), grantee_service_principal=p.get("GranteeServicePrincipal"))
    return _page(grants, marker, "Grants", grant_entry)


@handler("ListRetirableGrants")
def list_retirable_grants(caller, p):
    grants, marker = kms_grants.grant_list_retirable(
        caller=caller, retiring_principal=p.get("RetiringPrincipal"), limit=p.get("Limit", 50),
        marker=p.get("Marker"), retiring_service_principal=p.get("RetiringServicePrincipal"))
    return _page(grants, marker, "Grants", grant_entry)


@handler("RetireGrant")
def retire_grant(caller, p):
    kms_grants.grant_retire(caller=caller, grant_token=p.get("GrantToken"),
                            key_id=p.get("KeyId"), grant_id=p.get("GrantId"),
                            dry_run=p.get("DryRun", False))


@handler("RevokeGrant")
def revoke_grant(caller, p):
    kms_grants.grant_revoke(caller=caller, key_id=p["KeyId"], grant_id=p["GrantId"],
                            dry_run=p.get("DryRun", False))


# --- rotation -------------------------------------------------------------------------------

@handler("EnableKeyRotation")
def enable_key_rotation(caller, p):
    rotation.key_rotation_enable(caller=caller, key_id=p["KeyId"],
                                 rotation_period_days=p.get("RotationPeriodInDays"))


@handler("DisableKeyRotation")
def disable_key_rotation(caller, p):
    rotation.key_rotation_disable(caller=caller, key_id=p["KeyId"])


@handler("GetKeyRotationStatus")
def get_key_rotation_status(caller, p):
    key, status = rotation.key_rotation_status(caller=caller, key_id=p["KeyId"])
    return {"KeyRotationEnabled": status["enabled"], "KeyId": key.arn,
            "RotationPeriodInDays": status["period_days"],
            "NextRotationDate": status["next_rotation_date"],
            "OnDemandRotationStartDate": status["on_demand_start_date"]}


@handler("RotateKeyOnDemand")
def rotate_key_on_demand(caller, p):
    key = rotation.key_rotate_on_demand(caller=caller, key_id=p["KeyId"])
    return {"KeyId": key.arn}


def rotation_entry(key, material) -> dict:
    """RotationsListEntry: RotationDate and RotationType only for material a rotation made;
    the import members only for imported material."""
    entry = {"KeyId": str(key.id), "KeyMaterialId": material.material_id,
             "KeyMaterialState": ("CURRENT" if material.version == key.current_version
                                  else "NON_CURRENT")}
    if material.rotation_type:
        entry.update(RotationDate=material.created_at, RotationType=material.rotation_type)
    if key.origin == "EXTERNAL":
        entry.update(ImportState=material.import_state or None,
                     ExpirationModel=material.expiration_model or None,
                     ValidTo=material.valid_to,
                     KeyMaterialDescription=material.material_description or None)
    return entry


@handler("ListKeyRotations")
def list_key_rotations(caller, p):
    key, materials, marker = rotation.key_rotations_list(
        caller=caller, key_id=p["KeyId"], include_key_material=p.get("IncludeKeyMaterial"),
        limit=p.get("Limit", 100), marker=p.get("Marker"))
    return _page(materials, marker, "Rotations", lambda m: rotation_entry(key, m))


# --- imported key material ------------------------------------------------------------------

@handler("GetParametersForImport")
def get_parameters_for_import(caller, p):
    issued = imports.import_parameters_get(caller=caller, key_id=p["KeyId"],
                                           wrapping_algorithm=p["WrappingAlgorithm"],
                                           wrapping_key_spec=p["WrappingKeySpec"])
    return {"KeyId": issued.key.arn, "ImportToken": issued.import_token,
            "PublicKey": issued.public_key, "ParametersValidTo": issued.valid_to}


@handler("ImportKeyMaterial")
def import_key_material(caller, p):
    change = imports.import_key_material(
        caller=caller, key_id=p["KeyId"], import_token=p["ImportToken"],
        encrypted_key_material=p["EncryptedKeyMaterial"],
        expiration_model=p.get("ExpirationModel"), valid_to=p.get("ValidTo"),
        import_type=p.get("ImportType"),
        key_material_description=p.get("KeyMaterialDescription"),
        key_material_id=p.get("KeyMaterialId"))
    return {"KeyId": change.key.arn, "KeyMaterialId": change.material_id}


@handler("DeleteImportedKeyMaterial")
def delete_imported_key_material(caller, p):
    change = imports.delete_imported_key_material(caller=caller, key_id=p["KeyId"],
                                                  key_material_id=p.get("KeyMaterialId"))
    return {"KeyId": change.key.arn, "KeyMaterialId": change.material_id}

"""The Key material tab of an EXTERNAL key and its flows (kms-spec.md 8.3): import key material
(choose the wrapping key spec and algorithm, download the wrapping public key and import token,
upload the wrapped material and the token, choose an expiration) and delete key material.

Every step is a service call with the signed-in user's Caller (GetParametersForImport,
ImportKeyMaterial, DeleteImportedKeyMaterial), so a click and the API reach the same decision
and the same audit event. No JavaScript needed: the download is a form POST answered with a
zip file, the upload a multipart form. AccessDenied shows the 403 page; any other refusal is
shown on the form, and nothing changed.
"""

import datetime
import io
import zipfile

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kmsconsole.console import act_then_redirect
from kmsconsole.errors import AccessDeniedError, KmsError

from . import imports
from .crypto import import_wrapping
from .detail_views import CUSTOMER_MANAGED, _error, _open

# The largest ImportToken / EncryptedKeyMaterial the API takes (kms-spec.md 3.4).
MAX_UPLOAD_BYTES = 6144
DEFAULT_WRAPPING_KEY_SPEC = "RSA_4096"
WRAPPING_ALGORITHM_HELP = {
    "RSAES_OAEP_SHA_256": "RSA-OAEP with SHA-256, directly over the key material.",
    "RSAES_OAEP_SHA_1": "RSA-OAEP with SHA-1, directly over the key material.",
    "RSA_AES_KEY_WRAP_SHA_256": "AES key wrap with padding under a fresh AES key, which is "
                                "wrapped with RSA-OAEP SHA-256. Required for RSA private keys.",
    "RSA_AES_KEY_WRAP_SHA_1": "AES key wrap with padding under a fresh AES key, which is "
                              "wrapped with RSA-OAEP SHA-1.",
}


def _tab_url(key_id) -> str:
    return reverse("keys:key_material", args=[key_id])


def _default_algorithm(key) -> str:
    # RSA private keys are too large for RSA-OAEP directly (kms-spec.md 4.4).
    if key.key_spec.startswith("RSA_") or key.key_spec == "ECC_NIST_P521":
        return "RSA_AES_KEY_WRAP_SHA_256"
    return "RSAES_OAEP_SHA_256"


@require_GET
def key_material(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    return page.render("key-material", {"material": imports.material_summary(page.key)})


def _render_import(page, *, choice=None, errors=None, service_error=None, values=None,
                   status=200):
    key = page.key
    return render(page.request, "keys/import/import.html", {
        "title": "Import key material", "key": key,
        "wrapping_key_specs": import_wrapping.WRAPPING_KEY_SPECS,
        "wrapping_algorithms": [(name, WRAPPING_ALGORITHM_HELP[name])
                                for name in import_wrapping.WRAPPING_ALGORITHMS],
        "choice": choice or {"wrapping_key_spec": DEFAULT_WRAPPING_KEY_SPEC,
                             "wrapping_algorithm": _default_algorithm(key)},
        "errors": errors or {}, "service_error": service_error,
        "values": values or {"expiration": "does_not_expire", "valid_to": ""},
        "tab_url": _tab_url(key.id),
        "breadcrumbs": [CUSTOMER_MANAGED, {"label": str(key.id)},
                        {"label": "Import key material"}],
    }, status=status)


def _choice(post) -> tuple[dict, dict]:
    choice = {"wrapping_key_spec": post.get("wrapping_key_spec", ""),
              "wrapping_algorithm": post.get("wrapping_algorithm", "")}
    errors = {}
    if choice["wrapping_key_spec"] not in import_wrapping.WRAPPING_KEY_SPECS:
        errors["wrapping_key_spec"] = "Choose a wrapping key spec."
    if choice["wrapping_algorithm"] not in import_wrapping.WRAPPING_ALGORITHMS:
        errors["wrapping_algorithm"] = "Choose a wrapping algorithm."
    return choice, errors


@require_POST
def key_material_parameters(request, key_id):
    """Download wrapping public key and import token: GetParametersForImport, answered with a
    zip of the public key (DER), the token and a README naming the choices and expiry."""
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    choice, errors = _choice(request.POST)
    if errors:
        return _render_import(page, choice=choice, errors=errors, status=400)
    try:
        issued = imports.import_parameters_get(caller=page.caller, key_id=str(page.key.id),
                                               **choice)
    except AccessDeniedError as error:
        return _error(request, error, key_id)
    except KmsError as error:
        return _render_import(page, choice=choice, service_error=error, status=400)
    stamp = issued.valid_to.strftime("%m-%d-%Y-%H-%M-%S")
    suffix = f"{page.key.id}_{stamp}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"wrappingKey_{suffix}", issued.public_key)
        archive.writestr(f"importToken_{suffix}", issued.import_token)
        archive.writestr(f"README_{suffix}.txt", (
            f"Key ARN: {page.key.arn}\n"
            f"Wrapping key spec: {choice['wrapping_key_spec']}\n"
            f"Wrapping algorithm: {choice['wrapping_algorithm']}\n"
            f"The wrapping public key (wrappingKey_*, DER) and import token (importToken_*) "
            f"expire at {issued.valid_to.isoformat()}.\n"))
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="ImportParameters.zip"'
    return response


def _uploaded(request, name: str, label: str, errors: dict) -> bytes | None:
    upload = request.FILES.get(name)
    if upload is None:
        errors[name] = f"Choose the {label} file."
        return None
    if upload.size > MAX_UPLOAD_BYTES:
        errors[name] = f"The {label} file must be at most {MAX_UPLOAD_BYTES} bytes."
        return None
    return upload.read()


def _expiration(values: dict, errors: dict) -> dict:
    """ImportKeyMaterial's ExpirationModel and ValidTo from the form (midnight UTC of the date
    chosen), or {} with an error."""
    if values["expiration"] == "does_not_expire":
        return {"expiration_model": imports.DOES_NOT_EXPIRE}
    if values["expiration"] != "expires":
        errors["expiration"] = "Choose whether the key material expires."
        return {}
    try:
        day = datetime.date.fromisoformat(values["valid_to"])
    except ValueError:
        errors["valid_to"] = "Enter the expiration date as YYYY-MM-DD."
        return {}
    valid_to = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    return {"expiration_model": imports.EXPIRES, "valid_to": valid_to}


@require_http_methods(["GET", "POST"])
def key_material_import(request, key_id):
    """Import key material: the steps on one page. POST uploads the wrapped material and the
    token with the expiration chosen: ImportKeyMaterial."""
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    if page.read_only:
        return redirect(_tab_url(page.key.id))
    if request.method == "GET":
        return _render_import(page)
    values = {"expiration": request.POST.get("expiration", ""),
              "valid_to": request.POST.get("valid_to", "")[:10]}
    errors = {}
    encrypted = _uploaded(request, "encrypted_key_material", "wrapped key material", errors)
    token = _uploaded(request, "import_token", "import token", errors)
    expiration = _expiration(values, errors)
    if errors:
        return _render_import(page, errors=errors, values=values, status=400)
    try:
        imports.import_key_material(caller=page.caller, key_id=str(page.key.id),
                                    import_token=token, encrypted_key_material=encrypted,
                                    **expiration)
    except AccessDeniedError as error:
        return _error(request, error, key_id)
    except KmsError as error:
        return _render_import(page, service_error=error, values=values, status=400)
    messages.success(request, f"Key material was imported into key {page.key.id}.")
    return redirect(_tab_url(page.key.id))


@require_http_methods(["GET", "POST"])
def key_material_delete(request, key_id):
    """Delete key material: a confirmation, then DeleteImportedKeyMaterial."""
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    if page.read_only:
        return redirect(_tab_url(page.key.id))
    confirm_error = ""
    if request.method == "POST":
        if request.POST.get("confirm") != "on":
            confirm_error = "Confirm that you want to delete the key material."
        else:
            return act_then_redirect(
                request, lambda: imports.delete_imported_key_material(
                    caller=page.caller, key_id=str(page.key.id)),
                refuse=lambda error: _error(request, error, key_id),
                success=(f"The key material of key {page.key.id} was deleted. The key is "
                         "pending import until you import the same key material again."),
                done=_tab_url(page.key.id))
    return render(request, "keys/import/delete.html", {
        "title": "Delete key material", "key": page.key, "confirm_error": confirm_error,
        "tab_url": _tab_url(page.key.id),
        "breadcrumbs": [CUSTOMER_MANAGED, {"label": str(page.key.id)},
                        {"label": "Delete key material"}],
    }, status=400 if confirm_error else 200)

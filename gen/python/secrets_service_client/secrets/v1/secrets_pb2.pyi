import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VersionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERSION_STATE_UNSPECIFIED: _ClassVar[VersionState]
    VERSION_STATE_ENABLED: _ClassVar[VersionState]
    VERSION_STATE_DISABLED: _ClassVar[VersionState]
    VERSION_STATE_DESTROYED: _ClassVar[VersionState]

class SecretEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SECRET_EVENT_TYPE_UNSPECIFIED: _ClassVar[SecretEventType]
    SECRET_EVENT_TYPE_CREATED: _ClassVar[SecretEventType]
    SECRET_EVENT_TYPE_VERSION_ADDED: _ClassVar[SecretEventType]
    SECRET_EVENT_TYPE_UPDATED: _ClassVar[SecretEventType]
    SECRET_EVENT_TYPE_VERSION_STATE_CHANGED: _ClassVar[SecretEventType]
    SECRET_EVENT_TYPE_DELETED: _ClassVar[SecretEventType]
    SECRET_EVENT_TYPE_RESTORED: _ClassVar[SecretEventType]
    SECRET_EVENT_TYPE_PURGED: _ClassVar[SecretEventType]
    SECRET_EVENT_TYPE_HEARTBEAT: _ClassVar[SecretEventType]
VERSION_STATE_UNSPECIFIED: VersionState
VERSION_STATE_ENABLED: VersionState
VERSION_STATE_DISABLED: VersionState
VERSION_STATE_DESTROYED: VersionState
SECRET_EVENT_TYPE_UNSPECIFIED: SecretEventType
SECRET_EVENT_TYPE_CREATED: SecretEventType
SECRET_EVENT_TYPE_VERSION_ADDED: SecretEventType
SECRET_EVENT_TYPE_UPDATED: SecretEventType
SECRET_EVENT_TYPE_VERSION_STATE_CHANGED: SecretEventType
SECRET_EVENT_TYPE_DELETED: SecretEventType
SECRET_EVENT_TYPE_RESTORED: SecretEventType
SECRET_EVENT_TYPE_PURGED: SecretEventType
SECRET_EVENT_TYPE_HEARTBEAT: SecretEventType

class SecretVersion(_message.Message):
    __slots__ = ("name", "version", "state", "create_time", "created_by", "destroy_time", "key_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    DESTROY_TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    state: VersionState
    create_time: _timestamp_pb2.Timestamp
    created_by: str
    destroy_time: _timestamp_pb2.Timestamp
    key_id: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., state: _Optional[_Union[VersionState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., destroy_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_id: _Optional[str] = ...) -> None: ...

class Secret(_message.Message):
    __slots__ = ("name", "description", "metadata", "latest_version", "create_time", "update_time", "created_by", "updated_by", "etag", "expire_time", "delete_time", "purge_time", "max_versions", "last_access_time", "allowed_hosts")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    PURGE_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_ACCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_HOSTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    latest_version: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    created_by: str
    updated_by: str
    etag: str
    expire_time: _timestamp_pb2.Timestamp
    delete_time: _timestamp_pb2.Timestamp
    purge_time: _timestamp_pb2.Timestamp
    max_versions: int
    last_access_time: _timestamp_pb2.Timestamp
    allowed_hosts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., latest_version: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., updated_by: _Optional[str] = ..., etag: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., purge_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_versions: _Optional[int] = ..., last_access_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., allowed_hosts: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateSecretRequest(_message.Message):
    __slots__ = ("name", "value", "description", "metadata", "expire_time", "ttl", "max_versions", "request_id", "allowed_hosts")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_HOSTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    expire_time: _timestamp_pb2.Timestamp
    ttl: _duration_pb2.Duration
    max_versions: int
    request_id: str
    allowed_hosts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_versions: _Optional[int] = ..., request_id: _Optional[str] = ..., allowed_hosts: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateSecretResponse(_message.Message):
    __slots__ = ("secret",)
    SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: Secret
    def __init__(self, secret: _Optional[_Union[Secret, _Mapping]] = ...) -> None: ...

class GetSecretRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetSecretResponse(_message.Message):
    __slots__ = ("secret",)
    SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: Secret
    def __init__(self, secret: _Optional[_Union[Secret, _Mapping]] = ...) -> None: ...

class GetSecretValueRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetSecretValueResponse(_message.Message):
    __slots__ = ("name", "version", "value", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    value: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., value: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSecretsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "name_prefix", "metadata_filter", "show_deleted")
    class MetadataFilterEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    METADATA_FILTER_FIELD_NUMBER: _ClassVar[int]
    SHOW_DELETED_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    name_prefix: str
    metadata_filter: _containers.ScalarMap[str, str]
    show_deleted: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., name_prefix: _Optional[str] = ..., metadata_filter: _Optional[_Mapping[str, str]] = ..., show_deleted: _Optional[bool] = ...) -> None: ...

class ListSecretsResponse(_message.Message):
    __slots__ = ("secrets", "next_page_token")
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    secrets: _containers.RepeatedCompositeFieldContainer[Secret]
    next_page_token: str
    def __init__(self, secrets: _Optional[_Iterable[_Union[Secret, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateSecretRequest(_message.Message):
    __slots__ = ("name", "update_mask", "description", "metadata", "value", "etag", "expire_time", "ttl", "max_versions", "allowed_hosts")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_HOSTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    update_mask: _field_mask_pb2.FieldMask
    description: str
    metadata: _containers.ScalarMap[str, str]
    value: str
    etag: str
    expire_time: _timestamp_pb2.Timestamp
    ttl: _duration_pb2.Duration
    max_versions: int
    allowed_hosts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., value: _Optional[str] = ..., etag: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_versions: _Optional[int] = ..., allowed_hosts: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateSecretResponse(_message.Message):
    __slots__ = ("secret",)
    SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: Secret
    def __init__(self, secret: _Optional[_Union[Secret, _Mapping]] = ...) -> None: ...

class PutSecretValueRequest(_message.Message):
    __slots__ = ("name", "value", "etag", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    etag: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class PutSecretValueResponse(_message.Message):
    __slots__ = ("version", "secret")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    version: SecretVersion
    secret: Secret
    def __init__(self, version: _Optional[_Union[SecretVersion, _Mapping]] = ..., secret: _Optional[_Union[Secret, _Mapping]] = ...) -> None: ...

class ListSecretVersionsRequest(_message.Message):
    __slots__ = ("name", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSecretVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[SecretVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[SecretVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DisableSecretVersionRequest(_message.Message):
    __slots__ = ("name", "version", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    etag: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...

class DisableSecretVersionResponse(_message.Message):
    __slots__ = ("version", "secret")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    version: SecretVersion
    secret: Secret
    def __init__(self, version: _Optional[_Union[SecretVersion, _Mapping]] = ..., secret: _Optional[_Union[Secret, _Mapping]] = ...) -> None: ...

class EnableSecretVersionRequest(_message.Message):
    __slots__ = ("name", "version", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    etag: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...

class EnableSecretVersionResponse(_message.Message):
    __slots__ = ("version", "secret")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    version: SecretVersion
    secret: Secret
    def __init__(self, version: _Optional[_Union[SecretVersion, _Mapping]] = ..., secret: _Optional[_Union[Secret, _Mapping]] = ...) -> None: ...

class DestroySecretVersionRequest(_message.Message):
    __slots__ = ("name", "version", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    etag: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...

class DestroySecretVersionResponse(_message.Message):
    __slots__ = ("version", "secret")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    version: SecretVersion
    secret: Secret
    def __init__(self, version: _Optional[_Union[SecretVersion, _Mapping]] = ..., secret: _Optional[_Union[Secret, _Mapping]] = ...) -> None: ...

class DeleteSecretRequest(_message.Message):
    __slots__ = ("name", "force", "recovery_window_days", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    force: bool
    recovery_window_days: int
    etag: str
    def __init__(self, name: _Optional[str] = ..., force: _Optional[bool] = ..., recovery_window_days: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteSecretResponse(_message.Message):
    __slots__ = ("secret",)
    SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: Secret
    def __init__(self, secret: _Optional[_Union[Secret, _Mapping]] = ...) -> None: ...

class RestoreSecretRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class RestoreSecretResponse(_message.Message):
    __slots__ = ("secret",)
    SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: Secret
    def __init__(self, secret: _Optional[_Union[Secret, _Mapping]] = ...) -> None: ...

class BatchGetSecretValuesRequest(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetSecretValuesResponse(_message.Message):
    __slots__ = ("values", "errors")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[GetSecretValueResponse]
    errors: _containers.RepeatedCompositeFieldContainer[BatchGetError]
    def __init__(self, values: _Optional[_Iterable[_Union[GetSecretValueResponse, _Mapping]]] = ..., errors: _Optional[_Iterable[_Union[BatchGetError, _Mapping]]] = ...) -> None: ...

class BatchGetError(_message.Message):
    __slots__ = ("name", "code", "message")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    code: int
    message: str
    def __init__(self, name: _Optional[str] = ..., code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class CreateTaskTokenRequest(_message.Message):
    __slots__ = ("secrets", "scopes", "ttl", "label")
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    secrets: _containers.RepeatedScalarFieldContainer[str]
    scopes: _containers.RepeatedScalarFieldContainer[str]
    ttl: _duration_pb2.Duration
    label: str
    def __init__(self, secrets: _Optional[_Iterable[str]] = ..., scopes: _Optional[_Iterable[str]] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., label: _Optional[str] = ...) -> None: ...

class CreateTaskTokenResponse(_message.Message):
    __slots__ = ("token", "expire_time", "token_id")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token: str
    expire_time: _timestamp_pb2.Timestamp
    token_id: str
    def __init__(self, token: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., token_id: _Optional[str] = ...) -> None: ...

class RevokeTaskTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class RevokeTaskTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "name", "method", "code", "start_time", "end_time")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    name: str
    method: str
    code: int
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., name: _Optional[str] = ..., method: _Optional[str] = ..., code: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("event_id", "event_time", "request_id", "principal", "developer_id", "delegated", "token_id", "token_label", "method", "names", "versions", "code", "peer_address", "user_agent", "mtls_subject", "http_call")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    DEVELOPER_ID_FIELD_NUMBER: _ClassVar[int]
    DELEGATED_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_LABEL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PEER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    MTLS_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    HTTP_CALL_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_time: _timestamp_pb2.Timestamp
    request_id: str
    principal: str
    developer_id: str
    delegated: bool
    token_id: str
    token_label: str
    method: str
    names: _containers.RepeatedScalarFieldContainer[str]
    versions: _containers.RepeatedScalarFieldContainer[int]
    code: int
    peer_address: str
    user_agent: str
    mtls_subject: str
    http_call: AuditHttpCall
    def __init__(self, event_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., principal: _Optional[str] = ..., developer_id: _Optional[str] = ..., delegated: _Optional[bool] = ..., token_id: _Optional[str] = ..., token_label: _Optional[str] = ..., method: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ..., versions: _Optional[_Iterable[int]] = ..., code: _Optional[int] = ..., peer_address: _Optional[str] = ..., user_agent: _Optional[str] = ..., mtls_subject: _Optional[str] = ..., http_call: _Optional[_Union[AuditHttpCall, _Mapping]] = ...) -> None: ...

class AuditHttpCall(_message.Message):
    __slots__ = ("method", "host", "status", "duration", "request_bytes", "response_bytes")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BYTES_FIELD_NUMBER: _ClassVar[int]
    method: str
    host: str
    status: int
    duration: _duration_pb2.Duration
    request_bytes: int
    response_bytes: int
    def __init__(self, method: _Optional[str] = ..., host: _Optional[str] = ..., status: _Optional[int] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., request_bytes: _Optional[int] = ..., response_bytes: _Optional[int] = ...) -> None: ...

class RunMaintenanceRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunMaintenanceResponse(_message.Message):
    __slots__ = ("purged_secrets", "completed_writes", "removed_request_ids", "removed_task_tokens", "removed_audit_events")
    PURGED_SECRETS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_WRITES_FIELD_NUMBER: _ClassVar[int]
    REMOVED_REQUEST_IDS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_TASK_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_AUDIT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    purged_secrets: int
    completed_writes: int
    removed_request_ids: int
    removed_task_tokens: int
    removed_audit_events: int
    def __init__(self, purged_secrets: _Optional[int] = ..., completed_writes: _Optional[int] = ..., removed_request_ids: _Optional[int] = ..., removed_task_tokens: _Optional[int] = ..., removed_audit_events: _Optional[int] = ...) -> None: ...

class RewrapKeysRequest(_message.Message):
    __slots__ = ("to_key", "page_token", "page_size", "rate_limit")
    TO_KEY_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    to_key: str
    page_token: str
    page_size: int
    rate_limit: int
    def __init__(self, to_key: _Optional[str] = ..., page_token: _Optional[str] = ..., page_size: _Optional[int] = ..., rate_limit: _Optional[int] = ...) -> None: ...

class RewrapKeysResponse(_message.Message):
    __slots__ = ("secrets", "rewrapped", "already", "skipped", "next_page_token", "cache_key_rotated", "key_id")
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    REWRAPPED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CACHE_KEY_ROTATED_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    secrets: int
    rewrapped: int
    already: int
    skipped: int
    next_page_token: str
    cache_key_rotated: bool
    key_id: str
    def __init__(self, secrets: _Optional[int] = ..., rewrapped: _Optional[int] = ..., already: _Optional[int] = ..., skipped: _Optional[int] = ..., next_page_token: _Optional[str] = ..., cache_key_rotated: _Optional[bool] = ..., key_id: _Optional[str] = ...) -> None: ...

class ResolveReferencesRequest(_message.Message):
    __slots__ = ("template", "allow_missing")
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MISSING_FIELD_NUMBER: _ClassVar[int]
    template: _struct_pb2.Value
    allow_missing: bool
    def __init__(self, template: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., allow_missing: _Optional[bool] = ...) -> None: ...

class ResolveReferencesResponse(_message.Message):
    __slots__ = ("resolved", "names", "missing")
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    resolved: _struct_pb2.Value
    names: _containers.RepeatedScalarFieldContainer[str]
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, resolved: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., names: _Optional[_Iterable[str]] = ..., missing: _Optional[_Iterable[str]] = ...) -> None: ...

class RedactTextRequest(_message.Message):
    __slots__ = ("text", "names")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    text: str
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, text: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class RedactTextResponse(_message.Message):
    __slots__ = ("text", "matched_names")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MATCHED_NAMES_FIELD_NUMBER: _ClassVar[int]
    text: str
    matched_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, text: _Optional[str] = ..., matched_names: _Optional[_Iterable[str]] = ...) -> None: ...

class WatchSecretsRequest(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class WatchSecretsResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: SecretEvent
    def __init__(self, event: _Optional[_Union[SecretEvent, _Mapping]] = ...) -> None: ...

class SecretEvent(_message.Message):
    __slots__ = ("name", "version", "type", "event_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    type: SecretEventType
    event_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., type: _Optional[_Union[SecretEventType, str]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HttpHeader(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class ProxyHttpRequestRequest(_message.Message):
    __slots__ = ("method", "url", "headers", "body", "timeout")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    method: str
    url: str
    headers: _containers.RepeatedCompositeFieldContainer[HttpHeader]
    body: bytes
    timeout: _duration_pb2.Duration
    def __init__(self, method: _Optional[str] = ..., url: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[HttpHeader, _Mapping]]] = ..., body: _Optional[bytes] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ProxyHttpRequestResponse(_message.Message):
    __slots__ = ("status", "headers", "body", "names", "truncated")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    status: int
    headers: _containers.RepeatedCompositeFieldContainer[HttpHeader]
    body: bytes
    names: _containers.RepeatedScalarFieldContainer[str]
    truncated: bool
    def __init__(self, status: _Optional[int] = ..., headers: _Optional[_Iterable[_Union[HttpHeader, _Mapping]]] = ..., body: _Optional[bytes] = ..., names: _Optional[_Iterable[str]] = ..., truncated: _Optional[bool] = ...) -> None: ...
